"""The Textual TUI: `workbench` with no command opens it (`workbench.tui.app:run_app`).

Screens live in `screens/` (the named ones registered in `registry.py`), widgets in
`widgets/`, styles in `app.tcss` (and `screens/quiz.tcss` for the screens that also run on
their own), run events are the messages of `messages.py`, keys are documented in
docs/KEYS.md. Runs go through `workbench.runner.session.run_request` on their own threads,
like the CLI's; nothing here imports torch.
"""
