"""The TUI's screens: home, phase, lab run, runs history, run detail, diff, placeholders."""
