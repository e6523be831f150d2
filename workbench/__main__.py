"""`python -m workbench` runs the CLI."""

from workbench.entry import main

main()
