"""SQLite store (WAL): the run index here; quiz attempts, review cards and progress alongside."""

from workbench.store.db import StoreError, connect, transaction

__all__ = ["StoreError", "connect", "transaction"]
