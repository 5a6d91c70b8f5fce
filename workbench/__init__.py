"""Lynx Workbench: the CLI, the TUI, content loading, the runner and the store. No numerics here."""

__version__ = "0.1.0"
