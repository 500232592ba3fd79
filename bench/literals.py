"""The literal types sessiontrail's API takes, for values a benchmark makes: a
projections mode named on a command line, and the roles of alternating turns.

Imports nothing of sessiontrail at run time: the benchmarks whose cells run under
another checkout's interpreter use it too.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    from sessiontrail import Mode

Turn = Literal["user", "assistant"]
"""Who speaks in a chat's alternating turns."""


def projection_mode(text: str) -> Mode:
    """`text` as a projections mode; ValueError if it names none."""
    if text == "inline":
        return "inline"
    if text == "worker":
        return "worker"
    raise ValueError(f"projections: {text!r} is neither 'inline' nor 'worker'")
