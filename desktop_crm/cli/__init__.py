"""The command line: a second thin front over the services."""
