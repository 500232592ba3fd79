"""The committed event catalogue (docs/events.md, docs/schema/) is what the code
generates: a changed or new event fails here until the script is re-run."""

from __future__ import annotations

from types import ModuleType

from support.scripts import load_script


def catalogue() -> ModuleType:
    return load_script("event_catalogue")


def test_the_committed_catalogue_is_current() -> None:
    module = catalogue()
    expected = module.generate()
    stale = [
        str(path.relative_to(module.DOCS))
        for path, text in expected.items()
        if not path.exists() or path.read_text() != text
    ]
    committed = set((module.DOCS / "schema").glob("*.json"))
    extra = sorted(str(path.name) for path in committed - set(expected))
    assert not stale and not extra, (
        f"stale {stale}, no longer generated {extra}: "
        "run .venv/bin/python scripts/event_catalogue.py"
    )


def test_every_event_class_is_listed_with_an_example() -> None:
    module = catalogue()
    page = (module.DOCS / "events.md").read_text()
    for cls in module.event_classes():
        section = page.split(f"## {cls.__qualname__}\n", 1)[1].split("\n## ", 1)[0]
        assert f"class_version: {cls.class_version}" in section
        assert "```json" in section or cls.__qualname__ == "KeyCheck.Created", cls
