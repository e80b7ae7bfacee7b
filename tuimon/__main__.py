from tuimon.cli import entry

entry()
