"""Content problems as a panel: each line names the file and the field, and the app goes on."""

from __future__ import annotations

from textual.widgets import Static

from workbench.tui.text import esc as escape


def error_markup(errors: list[str]) -> str:
    lines = [f"[b]Content problems ({len(errors)})[/b] — files skipped; `workbench validate` lists them"]
    for err in errors:
        file, sep, rest = err.partition(": ")
        lines.append(f" [b]{escape(file)}[/b]{sep}{escape(rest)}" if sep else f" {escape(err)}")
    return "\n".join(lines)


class ErrorPanel(Static):

    def show(self, errors: list[str]) -> None:
        self.set_class(not errors, "-empty")
        self.update(error_markup(errors) if errors else "")
