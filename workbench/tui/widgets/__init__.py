"""The TUI's own widgets: phase strip, live chart grid, check table, error panel."""
