"""`workbench reindex`: rebuild the index database from run directories and the journal."""

from __future__ import annotations

import typer


def reindex_command() -> int:
    from workbench import workspace
    from workbench.store import connect
    from workbench.store.reindex import rebuild

    conn = connect()
    try:
        out = rebuild(conn, workspace.home())
    finally:
        conn.close()
    for line in out.problems:
        typer.echo(line, err=True)
    typer.echo(out.summary())
    return 0


def register(app: typer.Typer) -> None:
    @app.command()
    def reindex() -> None:
        """Rebuild the index (workbench.db) from runs/*/manifest.json and journal/*.jsonl; safe to repeat."""
        raise typer.Exit(reindex_command())
