"""`python -m desktop_crm` runs the command line."""

from desktop_crm.cli.main import main

raise SystemExit(main())
