"""The TUI's screens: home, phase, lab run, runs history, run detail, diff, roofline, quiz, review, help, quit."""
