"""`python -m desktop_crm` runs the command line."""

import sys

try:
    from desktop_crm.cli.main import main
except KeyboardInterrupt:  # Ctrl+C while the program is still loading
    sys.stderr.write("desktop-crm: interrupted\n")
    raise SystemExit(130) from None

raise SystemExit(main())
