"""`python -m multitag` runs the command-line interface."""

from multitag.cli import entry_point

entry_point()
