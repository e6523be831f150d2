"""Screens of the workbench TUI, one module per feature."""
