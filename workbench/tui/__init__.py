"""The Textual TUI: `workbench` with no command opens it (`workbench.tui.app:run_app`).

Screens live in `screens/`, widgets in `widgets/`, styles in `app.tcss`. Runs go through
`workbench.runner.session.run_request` on worker threads, like the CLI's; nothing here
imports torch.
"""
