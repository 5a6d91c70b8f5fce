"""Build the portal app for a workspace: accounts in its workbench.db, audit log and backups
under <workspace>/portal/, learning data through WorkspaceLearning."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from engine.apps.portal.accounts import Accounts
from engine.apps.portal.app import make_app
from engine.apps.portal.settings import PortalSettings, from_env
from workbench.portal.adapter import WorkspaceLearning
from workbench.store.db import connect


def portal_dir(root: Path) -> Path:
    return Path(root) / "portal"


def build(root: Path, settings: PortalSettings | None = None, **overrides: Any) -> Any:
    """The FastAPI app serving workspace `root` (settings from LYNX_PORTAL_* unless given)."""
    settings = settings or from_env(os.environ, **overrides)
    root = Path(root)
    learning = WorkspaceLearning(root)
    connect(root / "workbench.db").close()  # the workbench's check first: a lost database is rebuilt from journal/
    accounts = Accounts(root / "workbench.db")
    return make_app(settings, accounts, learning, portal_dir(root) / "audit")
