"""Grade a whole quiz: per-item results, the score, and pass/fail against the quiz's pass mark."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from workbench.content.schema import Quiz, QuizItem
from workbench.content.yamlio import YamlError, load_yaml
from workbench.quiz.grading import grade, response_problem


class AnswersError(ValueError):
    """An answers file that cannot be used (unreadable, not a mapping, unknown item ids)."""


@dataclass(frozen=True)
class ItemResult:
    item_id: str
    kind: str
    correct: bool
    response: Any  # what the learner gave, as given (stored)
    given: str  # as the grader read it
    expected: str
    feedback: str
    explanation: str


@dataclass(frozen=True)
class QuizResult:
    quiz_id: str
    phase: int
    pass_mark: float
    items: list[ItemResult]

    @property
    def n_correct(self) -> int:
        return sum(r.correct for r in self.items)

    @property
    def score(self) -> float:
        return self.n_correct / len(self.items) if self.items else 0.0

    @property
    def passed(self) -> bool:
        return bool(self.items) and self.score >= self.pass_mark - 1e-9

    @property
    def wrong(self) -> list[str]:
        return [r.item_id for r in self.items if not r.correct]

    def to_json(self) -> dict[str, Any]:
        return {
            "quiz": self.quiz_id,
            "phase": self.phase,
            "score": round(self.score, 4),
            "correct": self.n_correct,
            "total": len(self.items),
            "pass_mark": self.pass_mark,
            "passed": self.passed,
            "items": [asdict(r) for r in self.items],
        }


def grade_item(item: QuizItem, response: Any) -> ItemResult:
    g = grade(item, response)
    return ItemResult(item.id, item.kind, g.correct, response, g.given, g.expected, g.feedback, item.explanation)


def score_quiz(quiz: Quiz, answers: dict[str, Any]) -> QuizResult:
    """Every item is graded; an item with no answer counts as wrong."""
    return QuizResult(
        quiz.id, quiz.phase, quiz.pass_mark, [grade_item(item, answers.get(item.id)) for item in quiz.items]
    )


def load_answers(path: Path, quiz: Quiz) -> dict[str, Any]:
    """An answers file: a YAML mapping of item id -> answer. Unknown ids are an error, missing ones count wrong."""
    try:
        data = load_yaml(path)
    except YamlError as exc:
        raise AnswersError(str(exc)) from exc
    if not isinstance(data, dict):
        raise AnswersError(f"{path}: expected a mapping of item id -> answer, got {type(data).__name__}")
    known = {item.id for item in quiz.items}
    unknown = [str(k) for k in data if str(k) not in known]
    if unknown:
        raise AnswersError(
            f"{path}: {', '.join(unknown)}: no such item in {quiz.id} (items: {', '.join(sorted(known))})"
        )
    answers = {str(k): v for k, v in data.items()}
    for item in quiz.items:
        problem = response_problem(item, answers.get(item.id))
        if problem:
            raise AnswersError(f"{path}: {item.id}: {problem}")
    return answers
