"""A LangGraph value's size is bounded both ways: a value over the limit is
refused when put (naming its channel, nothing written), and a stored value (an
imported one, say) never inflates past the limit when it is read back."""

from __future__ import annotations

import base64
import zlib

import pytest
from support.langgraph import checkpoint, config

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
