"""The tap's version, in one place: setup.py reads it, and so do --version and the User-Agent
(reading it from the installed package's metadata costs an import of importlib.metadata, a
measurable share of the tap's start-up)."""
VERSION = "2.0.0"
PROG = "tap-helpscout"      # the command's name, in messages and --help
