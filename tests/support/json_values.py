"""JSON values for tests of the input limits."""

from __future__ import annotations

from typing import Any

from hypothesis import strategies as st

from sessiontrail.domain.limits import MAX_TEXT_CHARS

# Any code point, lone surrogates and NUL included; and lengths around the limits.
characters = st.characters(exclude_categories=())
texts = st.one_of(
    st.text(characters, max_size=40),
    st.builds(
        lambda char, size: char * size,
        characters,
        st.sampled_from([255, 256, 257, MAX_TEXT_CHARS, MAX_TEXT_CHARS + 1]),
    ),
)


def nested(depth: int) -> dict[str, Any]:
    """An object holding an object ... `depth` times (the innermost is empty)."""
    value: dict[str, Any] = {}
    for _ in range(depth):
        value = {"deeper": value}
    return value
