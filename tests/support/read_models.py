"""The read models a trail keeps, by name, as tests expect to find them: one list
for every test that names them all (written out, not read from the code, so a
read model added or lost fails those tests)."""

READ_MODELS = (
    "adk",
    "audit",
    "langgraph",
    "qa",
    "retention",
    "search",
    "sessions",
    "title_tokens",
    "usage",
)


def each(value: int) -> dict[str, int]:
    """`value` for every read model (positions, skip counts), to amend per test."""
    return dict.fromkeys(READ_MODELS, value)
