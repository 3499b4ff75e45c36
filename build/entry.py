"""What the frozen `desktop-crm` executable runs (PyInstaller's entry script).

The same as `python -m desktop_crm`: no arguments start the GUI, anything else
is the command line.
"""

from desktop_crm.cli.main import main

raise SystemExit(main())
