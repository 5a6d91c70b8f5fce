"""`workbench portal`: serve the learner portal on this workspace, invite people, back up and restore.

    workbench portal [--host 127.0.0.1 --port 8001]     serve (uvicorn; loopback unless told otherwise)
    workbench portal invite NAME [--role admin] [--owner] print a one-time invite link
    workbench portal backup [--keep 14]                  online backup + integrity_check of every learner DB
    workbench portal restore SNAPSHOT                    check the snapshot, then copy it back

The first account is created with `invite NAME --role admin`: there is never a default password,
and nobody can log in before redeeming an invite. `--owner` binds a learner to this workspace's
own data (the runs, quiz attempts and review deck the TUI shows); other learners get
learners/<name>/ below it.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
    from engine.apps.portal.settings import PortalSettings

portal_app = typer.Typer(help="The learner portal (web) on this workspace.", invoke_without_command=True)


def _settings(**overrides: object) -> PortalSettings:
    from engine.apps.portal.settings import SettingsError, from_env

    try:
        return from_env(os.environ, **overrides)
    except SettingsError as exc:
        typer.echo(f"portal settings: {exc}", err=True)
        raise typer.Exit(2) from None


@portal_app.callback()
def serve(
    ctx: typer.Context,
    host: Annotated[str, typer.Option(help="address to bind (keep 127.0.0.1 behind a reverse proxy)")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port")] = 8001,
) -> None:
    """Serve the portal (FastAPI + uvicorn) on the current workspace."""
    if ctx.invoked_subcommand is not None:
        return
    from engine.apps.portal.server import serve_forever
    from workbench.portal.wiring import build
    from workbench.workspace import home

    settings = _settings(host=host, port=port)
    if host not in ("127.0.0.1", "localhost", "::1"):
        if settings.dev_like:
            typer.echo(f"--host {host}: dev/test portals serve loopback only (cookies are not Secure); "
                       "set LYNX_PORTAL_ENV=production behind TLS", err=True)
            raise typer.Exit(2)
        typer.echo(f"warning: listening on {host}; put a TLS reverse proxy in front", err=True)
    app = build(home(), settings)
    typer.echo(f"portal on http://{host}:{port}/ (workspace {home()}, env {settings.environment}, "
               f"{app.state.portal.passwords.params.describe()})")
    serve_forever(app, host, port)


@portal_app.command()
def invite(
    username: Annotated[str, typer.Argument(help="the new account's username")],
    role: Annotated[str, typer.Option(help="learner, teacher or admin")] = "learner",
    owner: Annotated[
        bool, typer.Option("--owner", help="this learner owns the workspace's own data (TUI/CLI)")
    ] = False,
    base_url: Annotated[str, typer.Option(help="where the portal is reachable")] = "http://127.0.0.1:8001",
) -> None:
    """Print a one-time invite link (valid 7 days); redeeming it sets the password."""
    from engine.apps.portal.accounts import AccountError
    from workbench.portal.wiring import build
    from workbench.workspace import home

    app = build(home(), _settings())
    portal = app.state.portal
    if owner and portal.accounts.owner_taken():
        typer.echo("this workspace already has an owner (or an open owner invite)", err=True)
        raise typer.Exit(2)
    try:
        token = portal.invite(username, role, "." if owner else f"learners/{username}", None)
    except AccountError as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(2) from None
    typer.echo(f"{base_url.rstrip('/')}/invite/{token}")


@portal_app.command()
def backup(keep: Annotated[int, typer.Option(help="snapshots to keep")] = 14) -> None:
    """Online-backup every learner database into portal/backups/snapshot-<UTC>/, integrity-checked."""
    from engine.apps.portal.backup import BackupError, snapshot
    from workbench.portal.adapter import WorkspaceLearning
    from workbench.portal.wiring import portal_dir
    from workbench.workspace import home

    dbs = {k: v for k, v in WorkspaceLearning(home()).databases().items() if v.is_file()}
    if not dbs:
        typer.echo(f"no databases under {home()}", err=True)
        raise typer.Exit(2)
    try:
        snap = snapshot(dbs, portal_dir(home()) / "backups", keep=keep)
    except BackupError as exc:
        typer.echo(f"backup failed: {exc}", err=True)
        raise typer.Exit(1) from None
    typer.echo(f"{snap.path} ({len(snap.files)} database(s), integrity ok)")


@portal_app.command()
def restore(
    folder: Annotated[Path, typer.Argument(help="a snapshot-<UTC> folder from `workbench portal backup`")],
) -> None:
    """Check a snapshot with integrity_check, then copy each database back over the live one."""
    from engine.apps.portal.backup import BackupError
    from engine.apps.portal.backup import restore as do_restore
    from workbench.portal.adapter import WorkspaceLearning
    from workbench.workspace import home

    names = {p.stem for p in folder.glob("*.db")}
    known = WorkspaceLearning(home()).databases()
    targets = {n: known.get(n) or home() / "learners" / n.removeprefix("learner-") / "workbench.db" for n in names}
    try:
        done = do_restore(folder, targets)
    except BackupError as exc:
        typer.echo(f"restore refused: {exc}", err=True)
        raise typer.Exit(1) from None
    typer.echo(f"restored {', '.join(done)} from {folder}")
