"""The portal's Learning port over a workbench workspace: the same catalog, run index, graders,
SM-2 deck and progress as the TUI and the CLI, through their own modules (nothing re-implemented).

Workspace keys: '.' is the workspace itself (its owner is the learner who also uses the TUI and
CLI here, so a quiz taken in the terminal shows up in the browser and the reverse); every other
learner's key is 'learners/<name>', a workspace of its own below this one, which that learner can
open in the TUI with `WORKBENCH_HOME=learners/<name> workbench`.
"""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from workbench import progress
from workbench.content.loader import Catalog, load_catalog
from workbench.quiz import attempts, cards, review, sm2
from workbench.quiz.scoring import score_quiz
from workbench.store import connect
from workbench.store import runs as run_index

WS_RE = re.compile(r"^(\.|learners/[a-z][a-z0-9_-]{1,30})$")
CHART_RE = re.compile(r"^[A-Za-z0-9_.-]{1,120}\.png$")


class WorkspaceLearning:
    def __init__(self, root: Path, catalog: Catalog | None = None) -> None:
        self.root = Path(root).resolve()
        self.catalog = catalog if catalog is not None else load_catalog()
        # Open the workspace database through the workbench's own store first, so its checks run
        # (migrations, rebuilding a lost index from runs/ and journal/) before the portal adds its tables.
        connect(self.root / "workbench.db").close()

    # ------------------------------------------------------------------ workspaces
    def home(self, ws: str) -> Path:
        if not WS_RE.match(ws):
            raise ValueError(f"workspace key {ws!r} is not '.' or learners/<name>")
        path = self.root if ws == "." else self.root / ws
        path.mkdir(parents=True, exist_ok=True)
        return path

    @contextmanager
    def db(self, ws: str) -> Iterator[sqlite3.Connection]:
        conn = connect(self.home(ws) / "workbench.db")
        try:
            yield conn
        finally:
            conn.close()

    def databases(self) -> dict[str, Path]:
        """Every learner database under this workspace (for backups): name -> path."""
        out = {"workbench": self.root / "workbench.db"}
        for path in sorted((self.root / "learners").glob("*/workbench.db")):
            out[f"learner-{path.parent.name}"] = path
        return out

    # ------------------------------------------------------------------ catalog
    def phases(self) -> list[dict[str, Any]]:
        return [{"number": n, "title": p.title, "slug": p.slug} for n, p in sorted(self.catalog.phases.items())]

    def phase(self, number: int) -> dict[str, Any] | None:
        p = self.catalog.phases.get(number)
        if p is None:
            return None
        quiz = progress.quiz_for_phase(self.catalog, number)
        return {
            "number": p.id,
            "title": p.title,
            "goal": p.goal,
            "chapters": [{"id": c.id, "kind": c.kind, "title": c.title, "summary": c.summary} for c in p.chapters],
            "labs": [
                {"id": lab.id, "title": lab.title, "status": lab.status, "summary": lab.summary} for lab in p.labs
            ],
            "quiz_id": quiz.id if quiz else None,
        }

    def lab_runs(self, ws: str, number: int) -> dict[str, dict[str, Any]]:
        """The newest run of each lab of a phase: status, check table and chart file names."""
        p = self.catalog.phases.get(number)
        if p is None:
            return {}
        with self.db(ws) as conn:
            latest = run_index.latest_by_lab(conn, number)
        out = {}
        for lab in p.labs:
            row = latest.get(f"{p.key}/{lab.id}")
            if row is None:
                continue
            found = self._run_manifest(ws, row["id"])
            manifest = found[0] if found else {}
            run_dir = Path(row["run_dir"])
            charts = sorted(c.name for c in (run_dir / "charts").glob("*.png")) if (run_dir / "charts").is_dir() else []
            checks = [{"name": c.get("name") or c.get("metric"), "op": c.get("op"), "value": c.get("expected"),
                       "actual": c.get("actual"), "passed": bool(c.get("passed")), "hard": c.get("hard", True)}
                      for c in manifest.get("checks", [])]
            out[lab.id] = {"id": row["id"], "status": row["status"], "started_at": row["started_at"], "checks": checks,
                           "charts": charts}
        return out

    def _run_manifest(self, ws: str, run_id: str) -> tuple[dict[str, Any], str] | None:
        with self.db(ws) as conn:
            return run_index.get_manifest(conn, run_id)

    def chart_file(self, ws: str, run_id: str, name: str) -> Path | None:
        """A chart of one of this learner's runs; None for anything outside that run's charts/ folder."""
        if not CHART_RE.match(name) or not re.match(r"^[A-Za-z0-9_.:-]{1,200}$", run_id):
            return None
        found = self._run_manifest(ws, run_id)
        if found is None or found[0].get("id") != run_id:
            return None
        charts = (Path(found[1]) / "charts").resolve()
        path = (charts / name).resolve()
        return path if path.parent == charts and path.is_file() else None

    def quiz(self, number: int) -> dict[str, Any] | None:
        q = progress.quiz_for_phase(self.catalog, number)
        if q is None:
            return None
        return {
            "id": q.id,
            "title": q.title,
            "pass_mark": q.pass_mark,
            "items": [{"id": i.id, "kind": i.kind, "prompt": i.prompt, "choices": list(i.choices)} for i in q.items],
        }

    def attempts(self, ws: str, number: int, limit: int = 10) -> list[dict[str, Any]]:
        """The newest attempts at a phase's quiz, from the TUI, the CLI or the portal alike."""
        q = progress.quiz_for_phase(self.catalog, number)
        if q is None:
            return []
        with self.db(ws) as conn:
            rows = attempts.list_attempts(conn, q.id, limit)
        return [{"finished_at": r["finished_at"], "mode": r["mode"], "correct": r["correct"], "total": r["total"],
                 "score": r["score"], "passed": bool(r["passed"])} for r in rows]

    # ------------------------------------------------------------------ grading and the deck
    def submit(self, ws: str, number: int, answers: dict[str, str], mode: str, started_at: datetime,
               today: date) -> dict[str, Any]:
        """Grade with the workbench's graders and record the attempt (wrong answers seed cards)."""
        q = progress.quiz_for_phase(self.catalog, number)
        if q is None:
            raise KeyError(f"no quiz for phase {number:02d}")
        known = {i.id: i for i in q.items}
        result = score_quiz(q, {k: v for k, v in answers.items() if k in known})
        with self.db(ws) as conn:
            attempts.record(conn, result, started_at=started_at, finished_at=datetime.now(UTC), mode=f"portal-{mode}",
                            today=today)
        return {
            "quiz_id": q.id, "score": result.score, "correct": result.n_correct, "total": len(result.items),
            "passed": result.passed, "pass_mark": result.pass_mark, "seeded": result.wrong,
            "next_review": (today + timedelta(days=1)).isoformat(),
            "items": [{"id": r.item_id, "correct": r.correct, "given": r.given, "expected": r.expected,
                       "feedback": r.feedback, "explanation": r.explanation} for r in result.items],
        }

    def reviews(self, ws: str, today: date) -> dict[str, Any]:
        with self.db(ws) as conn:
            due, _skipped = review.due_cards(self.catalog, conn, today)
            everything = cards.all_cards(conn)
            nxt = cards.next_due(conn, today)
        deck = len(everything)
        upcoming = [{"quiz_id": c.quiz_id, "item_id": c.item_id, "due": c.state.due.isoformat(),
                     "prompt": item.prompt if (item := review.item_of(self.catalog, c.quiz_id, c.item_id)) else ""}
                    for c in everything if c.state.due > today][:50]
        rows = []
        for d in due:
            nexts = {name: sm2.srs.interval_words(days) for name, days in sm2.preview(d.card.state).items()}
            rows.append({"quiz_id": d.card.quiz_id, "item_id": d.card.item_id, "prompt": d.item.prompt,
                         "answer": _answer_text(d.item), "explanation": d.item.explanation, "next": nexts,
                         "due": d.card.state.due.isoformat(), "ease": d.card.state.ease})
        return {"due": rows, "upcoming": upcoming, "deck": deck, "next_due": nxt.isoformat() if nxt else None}

    def grade_review(self, ws: str, quiz_id: str, item_id: str, grade: int, today: date) -> dict[str, Any]:
        with self.db(ws) as conn:
            card = cards.get(conn, quiz_id, item_id)
            if card is None or card.state.due > today:
                raise KeyError(f"no due card {quiz_id}/{item_id}")
            state = cards.record_review(conn, quiz_id, item_id, grade, today, datetime.now(UTC))
        return {"interval": state.interval, "due": state.due.isoformat(), "ease": state.ease}

    # ------------------------------------------------------------------ progress
    def strip(self, ws: str) -> list[str]:
        with self.db(ws) as conn:
            states = progress.phase_states(self.catalog, conn)
        return [str(states.get(n, progress.State.NOT_STARTED)) for n in range(progress.N_PHASES)]

    def summary(self, ws: str, today: date) -> dict[str, Any]:
        with self.db(ws) as conn:
            tried = attempts.list_attempts(conn, limit=10_000)
            deck = len(cards.all_cards(conn))
            due = cards.due_count(conn, today)
        passed = sum(1 for a in tried if a["passed"])
        return {"attempts": len(tried), "pass_rate": passed / len(tried) if tried else None, "deck": deck, "due": due,
                "last_attempt": tried[0]["finished_at"] if tried else None}


def _answer_text(item: Any) -> str:
    if item.kind in ("single",) and item.choices:
        return item.choices[item.answer - 1]
    if item.kind == "multi" and item.choices:
        return ", ".join(item.choices[i - 1] for i in item.answer)
    if item.kind == "ordering" and item.choices:
        return " → ".join(item.choices[i - 1] for i in item.answer)
    if isinstance(item.answer, list):
        return ", ".join(map(str, item.answer))
    return str(item.answer)
