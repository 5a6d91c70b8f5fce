"""An MLflow tracking + registry store in a directory: SQLite (no server), created from a migrated
empty template so that a new registry costs a file copy, not MLflow's schema migrations.

`mlflow ui --backend-store-uri sqlite:///<dir>/mlflow.db` shows what a lab registered.
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any


def _template() -> Path:
    import mlflow

    path = Path(tempfile.gettempdir()) / f"lynx-mlflow-template-{mlflow.__version__}.db"
    if not path.exists():
        fd, tmp = tempfile.mkstemp(suffix=".db", dir=path.parent)
        os.close(fd)
        os.unlink(tmp)
        from mlflow.tracking import MlflowClient

        MlflowClient(f"sqlite:///{tmp}", f"sqlite:///{tmp}").search_experiments()  # runs the migrations
        os.replace(tmp, path)
    return path


def client_for(root: Path) -> tuple[Any, str]:
    """(MlflowClient, uri) for the store under `root`, creating it if needed."""
    logging.getLogger("mlflow").setLevel(logging.WARNING)
    from mlflow.tracking import MlflowClient

    root.mkdir(parents=True, exist_ok=True)
    db = root / "mlflow.db"
    if not db.exists():
        shutil.copyfile(_template(), db)
    uri = f"sqlite:///{db.resolve()}"
    return MlflowClient(uri, uri), uri
