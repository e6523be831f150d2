"""Reusable widgets of the workbench TUI, one per feature."""
