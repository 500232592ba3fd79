"""The user-facing documents (README.md and docs/, the generated event catalogue
aside) speak in words users know: no "seed", no issue numbers, and no benchmark
workload (W1..W4) before the document defines it, where it first appears, with a
bold lead (`**W1, appends**: ...`). Text for maintainers only may sit between
`<!-- maintainers -->` and `<!-- /maintainers -->`."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
GENERATED = {"docs/events.md"}  # the event catalogue, written from the code
DOCUMENTS = [
    ROOT / "README.md",
    *sorted((ROOT / "docs").glob("*.md")),
    ROOT / "docs" / "openapi.json",
]
DOCUMENTS = [p for p in DOCUMENTS if p.relative_to(ROOT).as_posix() not in GENERATED]
MAINTAINERS = re.compile(r"<!-- maintainers -->.*?<!-- /maintainers -->", re.DOTALL)
BUILDERS_WORDS = re.compile(r"\bseeds?\b|\bissue\s+#?\d+", re.IGNORECASE)
WORKLOAD = re.compile(r"\bW[1-4]\b")


def users_text(path: Path) -> str:
    return MAINTAINERS.sub("", path.read_text())


def ids(path: Path) -> str:
    return path.relative_to(ROOT).as_posix()


def line_of(text: str, offset: int) -> int:
    return text.count("\n", 0, offset) + 1


@pytest.mark.parametrize("path", DOCUMENTS, ids=ids)
def test_no_seed_or_issue_number(path: Path) -> None:
    text = users_text(path)
    found = [
        f"line {line_of(text, hit.start())}: {hit.group()!r}"
        for hit in BUILDERS_WORDS.finditer(text)
    ]
    assert found == []


@pytest.mark.parametrize("path", DOCUMENTS, ids=ids)
def test_each_workload_is_defined_where_it_first_appears(path: Path) -> None:
    text = users_text(path)
    first: dict[str, int] = {}
    for hit in WORKLOAD.finditer(text):
        first.setdefault(hit.group(), hit.start())
    for name, offset in first.items():
        line = text[text.rfind("\n", 0, offset) + 1 : text.find("\n", offset)]
        assert re.search(rf"\*\*{name}\b[^*]*\*\*:", line), (
            f"{name} first appears on line {line_of(text, offset)} undefined: {line!r}"
        )
