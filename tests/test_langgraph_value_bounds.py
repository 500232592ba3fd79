"""A LangGraph value's size is bounded both ways: a value over the limit is
refused when put (naming its channel, nothing written), and a stored value (an
imported one, say) never inflates past the limit when it is read back."""

from __future__ import annotations

import base64
import io
import json
import os
import zlib
from pathlib import Path
from typing import Any

import pytest
from support.langgraph import checkpoint, config

import sessiontrail
from sessiontrail import InvalidInput, SessionTrail
from sessiontrail.domain import threads
from sessiontrail.domain.threads import ChannelValue, Serialized
from sessiontrail.integrations.langgraph import TrailSaver

LIMIT = 4096


@pytest.fixture(autouse=True)
def small_limit(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(threads, "MAX_VALUE_BYTES", LIMIT)


def test_a_value_over_the_limit_is_refused_naming_its_channel() -> None:
    with pytest.raises(InvalidInput, match="messages: 4,097 bytes, over"):
        ChannelValue.pack(
            ("bytes", b"x" * (LIMIT + 1)), channel="messages", version="1"
        )
    assert ChannelValue.pack(("bytes", b"x" * LIMIT), channel="m", version="1")


def test_a_stored_value_that_would_inflate_past_the_limit_is_not_inflated() -> None:
    bomb = zlib.compress(b"\0" * (LIMIT * 100), 9)
    crafted = Serialized(
        type="bytes", data=[base64.b64encode(bomb).decode()], compressed=True
    )
    with pytest.raises(InvalidInput, match="inflates past"):
        crafted.unpack()
    fits = Serialized.pack(("bytes", b"\0" * LIMIT))
    assert fits.compressed and fits.unpack() == ("bytes", b"\0" * LIMIT)


def test_a_truncated_deflated_value_is_refused() -> None:
    cut = zlib.compress(b"y" * 1000)[:-6]
    crafted = Serialized(
        type="bytes", data=[base64.b64encode(cut).decode()], compressed=True
    )
    with pytest.raises(InvalidInput, match="not a whole deflated value"):
        crafted.unpack()


def test_a_put_over_the_limit_writes_nothing(trail: SessionTrail) -> None:
    saver = TrailSaver(trail)
    big = checkpoint()
    big["channel_values"] = {"blob": "z" * (LIMIT * 2)}
    big["channel_versions"] = {"blob": "1"}
    with pytest.raises(InvalidInput, match=r"checkpoint: .* bytes, over"):
        saver.put(config("t1"), big, {"step": 0}, {"blob": "1"})
    assert saver.get_tuple(config("t1")) is None


def _compressed_values_replaced(node: Any, data: bytes) -> None:
    """Every LangGraph value in an exported event's JSON made to hold `data`,
    deflated."""
    if isinstance(node, dict):
        if {"type", "data", "compressed"} <= node.keys():
            node["compressed"] = True
            node["data"] = [base64.b64encode(data).decode()]
        for value in node.values():
            _compressed_values_replaced(value, data)
    elif isinstance(node, list):
        for value in node:
            _compressed_values_replaced(value, data)


@pytest.mark.parametrize("backend", ["sqlite", "postgres"], indirect=True)
def test_an_import_of_a_value_inflating_past_the_limit_is_refused_writing_nothing(
    url: str, tmp_path: Path
) -> None:
    """The read model could never read such a checkpoint back (it would skip it
    for good): the import refuses it, naming the value, and writes nothing."""
    with sessiontrail.connect(f"sqlite:///{tmp_path / 'source.db'}") as source:
        TrailSaver(source).put(config("t1"), checkpoint(), {"step": 0}, {})
        exported = io.StringIO()
        source.exporter.write(exported)
    records = [json.loads(line) for line in exported.getvalue().splitlines()]
    for record in records:
        if record["event"] == "Session.CheckpointSaved":
            _compressed_values_replaced(record, zlib.compress(b"\0" * LIMIT * 100))
    crafted = tmp_path / "crafted.jsonl"
    crafted.write_text("".join(json.dumps(record) + "\n" for record in records))
    with sessiontrail.connect(url) as trail:
        with pytest.raises(
            InvalidInput, match=r"payload\.checkpoint\.data: inflates past"
        ):
            trail.importer.import_file(crafted)
        assert trail.store.head() == 0


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_a_value_too_big_for_one_event_is_refused_naming_its_channel(
    trail: SessionTrail, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Under the value limit but past what one event records (random bytes do
    not deflate): the refusal names the channel the caller wrote, not the place
    of a piece of its stored text."""
    monkeypatch.setattr(threads, "MAX_VALUE_BYTES", 64 * 1024 * 1024)
    saver = TrailSaver(trail)
    big = checkpoint()
    big["channel_values"] = {"blob": os.urandom(3_500_000)}
    big["channel_versions"] = {"blob": "1"}
    with pytest.raises(
        InvalidInput, match=r"^blob: the event would record over 4,000,000"
    ):
        saver.put(config("t1"), big, {"step": 0}, {"blob": "1"})
    assert saver.get_tuple(config("t1")) is None
