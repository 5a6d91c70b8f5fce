"""SM-2 for the portal's review loop: a re-export of engine.srs, the one implementation.

Kept so `from engine.portal import srs` keeps working; the maths (integer hundredths, the
"standard" and "portal" variants) lives in engine/srs.py.
"""

from __future__ import annotations

from engine.srs import (  # noqa: F401  (this module's public API)
    BUTTONS,
    MIN_EASE,
    START_EASE,
    VARIANTS,
    Card,
    due_queue,
    ease_delta,
    ease_delta_h,
    next_interval,
    review,
    round_half_up,
    seed_card,
    step,
    to_hundredths,
)
