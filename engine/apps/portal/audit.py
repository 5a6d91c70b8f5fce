"""The audit log: one JSON object per line in <dir>/YYYY-MM-DD.log (UTC days).

The PII rule is enforced here, not left to callers: field names that could carry a password, a
hash, a cookie, a token, a note body or an answer are refused, and values must be scalars, so a
whole request or form can never be dumped by accident. Log ids and lengths instead.
"""

from __future__ import annotations

import json
import os
import re
import threading
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

FORBIDDEN = re.compile(r"pass|hash|cookie|token|secret|pepper|body|answer|response|note_text|csrf", re.IGNORECASE)
EVENTS = {
    "auth.login.attempt", "auth.session.start", "auth.logout", "auth.first_password_set",
    "invite.created", "invite.redeemed", "invite.rejected", "csrf.block", "ratelimit.block",
    "note.saved", "admin.read_notes", "quiz.submitted", "exam.started", "exam.submitted", "review.graded",
    "backup.created", "backup.restored", "auth.busy",
}


class AuditError(ValueError):
    pass


class AuditLog:
    def __init__(self, directory: Path) -> None:
        self.directory = Path(directory)
        self._lock = threading.Lock()

    def write(self, event: str, **fields: Any) -> dict[str, Any]:
        if event not in EVENTS:
            raise AuditError(f"audit event {event!r} is not one of the known events")
        for key, value in fields.items():
            if FORBIDDEN.search(key):
                raise AuditError(f"audit field {key!r} may carry secrets or content (PII rule): log an id or a length")
            if value is not None and not isinstance(value, (str, int, float, bool)):
                raise AuditError(f"audit field {key!r}: only scalars are logged, got {type(value).__name__}")
        now = datetime.now(UTC)
        record = {"ts": now.isoformat(timespec="milliseconds"), "event": event, **fields}
        line = json.dumps(record, sort_keys=True, ensure_ascii=True) + "\n"
        with self._lock:
            self.directory.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.directory / f"{now:%Y-%m-%d}.log", os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
            try:
                os.write(fd, line.encode())
            finally:
                os.close(fd)
        return record

    def read(self) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        for path in sorted(self.directory.glob("*.log")):
            out.extend(json.loads(line) for line in path.read_text().splitlines() if line.strip())
        return out
