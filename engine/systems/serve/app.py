"""Routes of the tutor service as plain functions of (method, path, body): transport-free, so the
validation, health and error rules are testable without sockets.

POST /correct {"sentence": str 1..500, "learner_id": optional str} -> 200 {corrected, explanation,
was_correct}; bad input -> 422; an exception in the model -> 500. GET /healthz -> 200 always (the
process is alive); GET /readyz -> 503 until the tutor is loaded, then 200 (a load balancer routes on it).
"""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError

from engine.systems.serve.api import CorrectRequest
from engine.systems.serve.tutor import Tutor

Response = tuple[int, dict[str, Any]]


def validate(body: bytes) -> tuple[str, str | None] | dict[str, Any]:
    """The request model (engine.systems.serve.api.CorrectRequest, the served endpoint's own): returns
    (sentence, learner_id) or a 422 error body naming the first problem."""
    try:
        req = CorrectRequest.model_validate_json(body or b"null")
    except ValidationError as e:
        err = e.errors(include_url=False, include_input=False)[0]
        return {"detail": f"{'.'.join(map(str, err['loc'])) or 'body'}: {err['msg']}"}
    return req.sentence, req.learner_id


class TutorApp:
    def __init__(self, tutor: Tutor) -> None:
        self.tutor = tutor

    def route(self, method: str, path: str) -> str | None:
        return {("GET", "/healthz"): "healthz", ("GET", "/readyz"): "readyz", ("POST", "/correct"): "correct"}.get((method, path))

    def healthz(self) -> Response:
        return 200, {"status": "ok"}

    def readyz(self) -> Response:
        return (200, {"ready": True}) if self.tutor.loaded else (503, {"ready": False})

    def correct(self, body: bytes) -> Response:
        """Blocking: validation, then the model call. Handlers decide where this runs."""
        parsed = validate(body)
        if isinstance(parsed, dict):
            return 422, parsed
        if not self.tutor.loaded:
            return 503, {"detail": "model not loaded"}
        try:
            c = self.tutor.correct(parsed[0])
        except Exception as exc:  # noqa: BLE001 - the 500 path reports any model failure
            return 500, {"detail": f"internal error: {type(exc).__name__}"}
        return 200, {"corrected": c.corrected, "explanation": c.explanation, "was_correct": c.was_correct}
