"""`sessiontrail ls` filters: the same filters as `trail.sessions.list`."""

from __future__ import annotations

import json
from pathlib import Path

from support.cli import failure, invoke

import sessiontrail


def listed(url: str, *options: str) -> list[str]:
    result = invoke("--db", url, "ls", "--json", *options)
    assert result.exit_code == 0, result.stderr
    return [item["session_id"] for item in json.loads(result.stdout)["items"]]


def test_ls_filters_by_words_model_pin_metadata_and_time(tmp_path: Path):
    url = f"sqlite:///{tmp_path / 'trail.db'}"
    with sessiontrail.connect(url) as trail:
        for name, text, model, env in [
            ("trip", "what about Lisbon?", "m1", "prod"),
            ("other", "Rome then", "m2", "dev"),
        ]:
            session = trail.sessions.load_or_create(name, model=model)
            session.append_message(role="user", content=text)
            session.update_metadata({"env": env, "tries": 2})
            session.set_pinned(name == "other")
            trail.sessions.save(session)

    assert listed(url, "--search", "lisbon") == ["trip"]
    assert listed(url, "--model", "m2") == ["other"]
    assert listed(url, "--pinned") == ["other"]
    assert listed(url, "--unpinned") == ["trip"]
    assert listed(url, "--meta", "env=prod", "--meta", "tries=2") == ["trip"]
    assert listed(url, "--since", "2000-01-01", "--until", "2000-01-02") == []


def test_ls_names_a_bad_filter(tmp_path: Path):
    url = f"sqlite:///{tmp_path / 'trail.db'}"
    sessiontrail.connect(url).close()

    assert "meta" in failure("--db", url, "ls", "--meta", "novalue")
    assert "since" in failure("--db", url, "ls", "--since", "yesterday")
