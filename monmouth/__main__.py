"""`python -m monmouth` runs the CLI."""

from monmouth.cli import main

main()
