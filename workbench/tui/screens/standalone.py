"""Catalog and database access for screens that also run outside WorkbenchApp (quiz, review).

Inside the app they borrow `app.catalog` and `app.db()`; standalone (tests, other apps) they use
what they were given, or open the workspace database themselves.
"""

from __future__ import annotations

import sqlite3
from typing import Any

from workbench.content.loader import Catalog


class StandaloneData:
    _catalog: Catalog | None
    _conn: sqlite3.Connection | None
    app: Any

    @property
    def catalog(self) -> Catalog | None:
        return self._catalog if self._catalog is not None else getattr(self.app, "catalog", None)

    def db(self) -> sqlite3.Connection:
        if self._conn is None:
            db = getattr(self.app, "db", None)
            if db is not None:
                self._conn = db()
            else:
                from workbench.store import connect

                self._conn = connect()
        return self._conn
