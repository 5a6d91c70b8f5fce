"""The planner's output schema: a oneOf of one tool-call branch per phase-31 tool (the tool's
name as a constant and that tool's own argument schema) and a final answer (corrected sentence
or null, one to three rationale strings, an optional Spanish gloss or null, in_scope).

Compiling it to a mask and validating documents against it are the phase-30 code's job
(engine.apps.structured.schema: oneOf, arrays and nullable types are part of that one subset);
`validate` is re-exported here for the callers that read the planner's documents.
"""

from __future__ import annotations

from typing import Any

from engine.apps.structured.schema import validate
from engine.apps.tools.base import REGISTRY

__all__ = ["TEXT", "planner_schema", "validate"]

TEXT = {"type": "string", "maxLength": 24}


def planner_schema() -> dict[str, Any]:
    calls = [{"type": "object", "additionalProperties": False, "required": ["tool", "args"],
              "properties": {"tool": {"const": name}, "args": tool.input_schema}}
             for name, tool in sorted(REGISTRY.items())]
    answer = {"type": "object", "additionalProperties": False, "required": ["corrected", "rationale", "in_scope"],
              "properties": {"corrected": {"type": ["string", "null"], "maxLength": 24},
                             "rationale": {"type": "array", "items": TEXT, "minItems": 1, "maxItems": 3},
                             "spanish_gloss": {"type": ["string", "null"], "maxLength": 24},
                             "in_scope": {"type": "boolean"}}}
    return {"oneOf": [*calls, answer]}
