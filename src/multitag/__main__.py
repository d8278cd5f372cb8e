"""`python -m multitag` runs the command-line interface."""

from multitag.cli import main

main()
