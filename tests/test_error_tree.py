"""Every public call answers bad arguments with the documented errors only.

The calls are generated from the public classes' signatures: each parameter of
each public method of `trail.*`, `SessionTrail`, `Session`, the async facade and
the adapters is given a wrong-typed value and out-of-range values, the other
parameters valid ones. A wrong type must be InvalidInput naming the parameter;
any other value may be refused, but only with an error of domain/errors.py (an
InvalidInput naming the parameter, unless the value is of the declared type and
the error is about something else), never a raw pydantic, driver or Python
error. A new method is walked as soon as it exists; a new required parameter
needs a valid sample in `samples` (the failure says so).
"""

from __future__ import annotations

import asyncio
import functools
import inspect
import io
import threading
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any, get_type_hints

import pytest
from google.adk.errors.already_exists_error import AlreadyExistsError
from google.adk.errors.session_not_found_error import SessionNotFoundError
from google.adk.events.event import Event as AdkEvent
from pydantic import ConfigDict, ValidationError, validate_call
from pydantic.errors import PydanticSchemaGenerationError

import sessiontrail
from sessiontrail import (
    InvalidInput,
    ListOptions,
    SessionQAUpdate,
    SessionTraceStep,
    SessionTrail,
    SessiontrailError,
    aio,
)
from sessiontrail.domain.threads import Serialized, TaskWrite
from sessiontrail.integrations.adk import TrailSessionService
from sessiontrail.integrations.langgraph import AsyncTrailSaver, TrailSaver
from sessiontrail.integrations.openai_agents import TrailSession
from sessiontrail.stores.assets import SessionAsset

Errors = tuple[type[BaseException], ...]
DOCUMENTED: Errors = (SessiontrailError,)
ADAPTER_DOCUMENTED: Errors = (
    SessiontrailError,
    AlreadyExistsError,
    SessionNotFoundError,
)
"""The ADK adapter also raises what ADK's BaseSessionService documents."""
WRONG_TYPE_DOCUMENTED: dict[str, Errors] = {"trail": (TypeError,)}
"""Parameters whose wrong type is documented as a TypeError: an adapter's log
(docs/adk.md, docs/openai-agents.md)."""


class Alien:
    """A value of a type no parameter takes."""

    def __repr__(self) -> str:
        return "<alien>"


OUT_OF_RANGE: tuple[Any, ...] = (
    None,
    True,
    -1,
    0,
    2**63 - 1,
    2**64,
    10**100,
    float("nan"),
    float("inf"),
    "",
    " ",
    "\x00",
    "x" * 100_000,
    "\ud800",
    [],
    {},
)

WALKED = (
    "sessions",
    "transcripts",
    "assets",
    "qa",
    "usage",
    "audit",
    "retention",
    "search",
    "projections",
    "exporter",
    "importer",
)
NOT_PUBLIC = {
    "settings": "the parsed URL: data, no calls",
    "store": "the eventsourcing application under the repository",
    "read_models": "the read models' database connection",
    "adk": "the ADK adapter's read queries",
    "langgraph": "the LangGraph savers' read queries",
    "transcript_pages": "the OpenAI adapter's transcript read queries",
    "memories": "where adapters register what they keep of sessions (dropped "
    "with the cache on erasure and purge)",
}
NOT_WALKED = {
    "SessionTrail.close": "no arguments",
    "AsyncSessionTrail.close": "no arguments",
    "ProjectionRunner.run": "blocks until `stop` is set: walked on its own below",
    "ProjectionRunner.lagging": "the inline read path's hook, given its own cursor",
    "ProjectionRunner.has_applied": "the inline read path's hook, given a position "
    "the store committed",
    "Session.create_id": "eventsourcing's hook, called with the checked session id",
    "Session.trigger_event": "eventsourcing's hook, called by the commands",
    "Session.attach": "the event store's hook, given its own log and read model",
    "Session.record_checkpoint": "the LangGraph saver's hook, given what its door "
    "checked (`save_checkpoint` is the checked call)",
    "ProjectionRunner.after_write": "the writers' hook, given the position the "
    "store returned (`catch_up` is the checked call)",
    "TrailSaver.get_next_version": "LangGraph's hook; its `channel` is deprecated, "
    "passed as None and ignored ('current' is tested in test_langgraph_saver.py)",
    "AsyncTrailSaver.get_next_version": "as TrailSaver.get_next_version",
}
BAD_FOR: dict[str, tuple[Any, ...]] = {
    "url": ("sqlite:///\x00", "sqlite:///\ud800", "postgresql://u@h\x00/d"),
}
"""Bad values of a shape only some parameters take."""
EXTRA: dict[str, dict[str, Any]] = {"at": {"version": 1}}
"""Optional arguments a call needs to be valid (`at` wants a version or a time)."""


def samples(trail: SessionTrail, tmp_path: Path) -> dict[str, Callable[[], Any]]:
    """A valid value for each required parameter, by name (or `name.method`)."""
    export = tmp_path / "export.jsonl"
    with export.open("w") as out:
        trail.exporter.write(out, ["walk"])
    stop = threading.Event()
    stop.set()
    return {
        "session_id": lambda: "walk",
        "id": lambda: "walk",
        "user_id": lambda: "ann",
        "word": lambda: "lisbon",
        "record": lambda: {"input_tokens": 1},
        "messages": lambda: [{"role": "user", "content": "hi"}],
        "session": lambda: trail.sessions.load_or_create("walk", user_id="ann"),
        "question": lambda: "q",
        "answer": lambda: "a",
        "qa_id": lambda: "qa-1",
        "updates": lambda: SessionQAUpdate(feedback_score=3),
        "context": lambda: "graph",
        "step": lambda: SessionTraceStep(trace_id="t1"),
        "last_n": lambda: 1,
        "asset": lambda: SessionAsset(id="walk", title="Walk"),
        "options": ListOptions,
        "name": lambda: "sessions",
        "stop": lambda: stop,
        "path": lambda: export,
        "out": io.StringIO,
        "role": lambda: "user",
        "keep": lambda: 1,
        "text": lambda: "hi",
        "ids": lambda: ["m-1"],
        "count": lambda: 1,
        "days": lambda: 30,
        "sessions.expire": lambda: [],
        "title": lambda: "Walk",
        "pinned": lambda: True,
        "model": lambda: "gpt",
        "question.set_pending_question": lambda: {
            "tool_call_id": "c1",
            "tool_name": "ask",
            "question": "?",
        },
        "changes": lambda: {"k": 1},
        "checkpoint_id": lambda: "cp-1",
        "parent_checkpoint_id": lambda: None,
        "checkpoint.save_checkpoint": lambda: Serialized.pack(("msgpack", b"\x01")),
        "channel_versions": lambda: {"n": "1"},
        "values": lambda: [],
        "metadata": lambda: {"step": 0},
        "app_metadata": lambda: {},
        "task_id": lambda: "task",
        "writes.save_writes": lambda: [
            TaskWrite.pack(("msgpack", b"\x01"), idx=0, channel="n")
        ],
        "events": lambda: [],
    }


def public_methods(target: object) -> Iterator[tuple[str, Callable[..., Any]]]:
    """(Class.name, bound method) of the functions sessiontrail defines on the
    target's class: not nested classes, not what eventsourcing or pydantic add."""
    for name, member in inspect.getmembers(type(target)):
        label = f"{type(target).__name__}.{name}"
        if name.startswith("_") or label in NOT_WALKED:
            continue
        if inspect.isfunction(member) and member.__module__.startswith("sessiontrail"):
            yield label, getattr(target, name)


def calls(
    label: str, method: Callable[..., Any], valid: dict[str, Callable[[], Any]]
) -> Iterator[tuple[str, Any, dict[str, Any]]]:
    """(parameter, bad value, keyword arguments) for every bad value of each."""
    parameters = [
        p
        for p in inspect.signature(method).parameters.values()
        if p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)
    ]
    required = [p.name for p in parameters if p.default is p.empty]
    extra = EXTRA.get(getattr(method, "__name__", ""), {})
    for parameter in parameters:
        base = {k: v for k, v in extra.items() if k != parameter.name}
        for name in required:
            if name != parameter.name:
                factory = valid.get(f"{name}.{method.__name__}") or valid.get(name)
                assert factory, f"{label}: add a valid sample for `{name}` to samples"
                base[name] = factory()
        for bad in (Alien(), *OUT_OF_RANGE, *BAD_FOR.get(parameter.name, ())):
            yield parameter.name, bad, {**base, parameter.name: bad}


def accepts(method: Callable[..., Any], parameter: str, value: Any) -> bool:
    """Whether `value` is of the parameter's declared type (an InvalidInput for
    it is then about something else and need not name the parameter)."""
    hint = get_type_hints(method, include_extras=True).get(parameter, Any)
    try:
        validate_call(config=ConfigDict(arbitrary_types_allowed=True))(_taking(hint))(
            value
        )
    except (ValidationError, PydanticSchemaGenerationError, TypeError):
        return False
    return True


LAX: tuple[Any, ...] = (True, 1, 5.0, "5", "yes", "true")
"""Values a lax check would coerce: a bool or a float for an int, digits for a
number, words or 1 for a bool."""


def coerced(method: Callable[..., Any], parameter: str) -> list[Any]:
    """The LAX values the parameter's type takes only by coercion (bool as int,
    str as int, float or bool, int as bool, float as int): each must be refused."""
    hint = get_type_hints(method, include_extras=True).get(parameter, Any)
    strict = ConfigDict(arbitrary_types_allowed=True, strict=True)
    exact = validate_call(config=strict)(_taking(hint))
    found = []
    for value in LAX:
        if not accepts(method, parameter, value):
            continue
        try:
            exact(value)
        except (ValidationError, PydanticSchemaGenerationError, TypeError):
            found.append(value)
    return found


def _taking(hint: Any) -> Callable[[Any], None]:
    def take(value: Any) -> None:
        return None

    take.__annotations__ = {"value": hint, "return": None}
    return take


def outcome(call: Callable[[], Any]) -> BaseException | None:
    """What the call raised (iterating a result that is an iterator), if anything."""
    try:
        result = call()
        if isinstance(result, Iterator):
            list(result)
    except Exception as error:
        return error
    return None


async def awaited_outcome(call: Callable[[], Awaitable[Any]]) -> BaseException | None:
    try:
        await call()
    except Exception as error:
        return error
    return None


def judge(
    label: str,
    parameter: str,
    bad: Any,
    error: BaseException | None,
    documented: Errors = DOCUMENTED,
    method: Callable[..., Any] | None = None,
) -> str | None:
    """None if the call behaved; else what went wrong, for the failure report."""
    call = f"{label}({parameter}={bad!r:.30})"
    if isinstance(error, InvalidInput):
        about_it = method is None or not accepts(method, parameter, bad)
        if about_it and parameter not in str(error):
            return f"{call}: the message does not name it: {error}"
        return None
    if isinstance(error, WRONG_TYPE_DOCUMENTED.get(parameter, ())):
        return None
    if isinstance(bad, Alien):
        return f"{call}: {'accepted' if error is None else repr(error):.120}"
    if error is None or isinstance(error, documented):
        return None
    return f"{call}: {type(error).__name__}: {error!s:.80}"


def assert_none(problems: list[str | None]) -> None:
    found = [problem for problem in problems if problem]
    assert not found, "\n".join(found)


@pytest.fixture
def walked(trail: SessionTrail) -> SessionTrail:
    """The trail with a session and a Q&A entry to find."""
    session = trail.sessions.load_or_create("walk", user_id="ann")
    session.append_message(role="user", content="hi")
    trail.sessions.save(session)
    trail.qa.create_qa_entry("walk", "q", "a", user_id="ann", qa_id="qa-1")
    return trail


def test_every_public_part_of_a_trail_is_walked_or_named_not_public(
    trail: SessionTrail,
) -> None:
    parts = {name for name in vars(trail) if not name.startswith("_")}
    assert parts == set(WALKED) | set(NOT_PUBLIC)


@pytest.mark.parametrize("part", ["trail", "session", *WALKED])
def test_bad_arguments_raise_only_documented_errors(
    part: str, walked: SessionTrail, tmp_path: Path
) -> None:
    valid = samples(walked, tmp_path)
    if part == "trail":
        target: object = walked
    elif part == "session":
        target = walked.sessions.load_or_create("walk", user_id="ann")
    else:
        target = getattr(walked, part)
    problems = []
    for label, method in public_methods(target):
        for parameter, bad, kwargs in calls(label, method, valid):
            error = outcome(functools.partial(method, **kwargs))
            problems.append(judge(label, parameter, bad, error, DOCUMENTED, method))
    assert_none(problems)


@pytest.mark.parametrize("part", ["trail", "session", *WALKED])
def test_wrong_types_are_refused_by_name_and_nothing_written(
    part: str, walked: SessionTrail, tmp_path: Path
) -> None:
    valid = samples(walked, tmp_path)
    session = walked.sessions.load_or_create("walk", user_id="ann")
    target = {"trail": walked, "session": session}.get(part) or getattr(walked, part)
    problems = []
    for label, method in public_methods(target):
        walked_parameters = set()
        for parameter, _, kwargs in calls(label, method, valid):
            if parameter in walked_parameters:
                continue
            walked_parameters.add(parameter)
            for bad in coerced(method, parameter):
                before = (walked.store.head(), session.version)
                call = f"{label}({parameter}={bad!r})"
                error = outcome(functools.partial(method, **{**kwargs, parameter: bad}))
                if not isinstance(error, InvalidInput) or parameter not in str(error):
                    problems.append(f"{call}: {error!r:.120}")
                elif (walked.store.head(), session.version) != before:
                    problems.append(f"{call}: refused, but something was written")
    assert_none(problems)


def test_a_projection_worker_refuses_bad_arguments(walked: SessionTrail) -> None:
    stop = threading.Event()
    stop.set()
    run = walked.projections.run
    problems = [
        judge("run", "stop", bad, outcome(functools.partial(run, bad)))
        for bad in (Alien(), None)
    ]
    for bad in (Alien(), *OUT_OF_RANGE):
        error = outcome(functools.partial(run, stop, poll_interval=bad))
        problems.append(judge("run", "poll_interval", bad, error, DOCUMENTED, run))
    assert_none(problems)


def opens(connect: Callable[..., Any], **kwargs: Any) -> None:
    connect(**kwargs).close()


async def opens_async(**kwargs: Any) -> None:
    await (await aio.connect(**kwargs)).close()


def test_connect_refuses_bad_arguments(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)  # a relative SQLite path must not land elsewhere
    problems = []
    for parameter, bad, kwargs in calls("connect", sessiontrail.connect, {}):
        if parameter == "url" and bad in (None, ""):
            continue  # no URL: $SESSIONTRAIL_URL or the default file
        error = outcome(functools.partial(opens, sessiontrail.connect, **kwargs))
        problems.append(judge("connect", parameter, bad, error))
    assert_none(problems)


def test_async_connect_refuses_bad_arguments(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    problems = []
    for parameter, bad, kwargs in calls("aio.connect", aio.connect, {}):
        if parameter == "url" and bad in (None, ""):
            continue
        error = asyncio.run(awaited_outcome(functools.partial(opens_async, **kwargs)))
        problems.append(judge("aio.connect", parameter, bad, error))
    assert_none(problems)


def test_the_async_facade_raises_what_the_sync_api_raises(
    walked: SessionTrail, url: str, tmp_path: Path
) -> None:
    valid = samples(walked, tmp_path)
    problems: list[str | None] = []

    async def walk() -> None:
        async with await aio.connect(url) as trail:
            walks = [(label, method, method) for label, method in public_methods(trail)]
            for part in ("sessions", "qa"):
                facade = getattr(trail, part)
                walks += [
                    (label, method, getattr(facade, method.__name__))
                    for label, method in public_methods(getattr(trail.sync, part))
                ]
            for label, method, call in walks:
                for parameter, bad, kwargs in calls(label, method, valid):
                    error = await awaited_outcome(functools.partial(call, **kwargs))
                    problems.append(
                        judge(label, parameter, bad, error, DOCUMENTED, method)
                    )

    asyncio.run(walk())
    assert_none(problems)


async def built_then(
    build: Callable[[], Any], call: Callable[[Any], Awaitable[Any]]
) -> Any:
    """Build an adapter (its constructor may refuse), then make its first call."""
    return await call(build())


def test_the_adapters_raise_only_documented_errors(
    walked: SessionTrail, url: str, tmp_path: Path
) -> None:
    problems: list[str | None] = []

    async def walk() -> None:
        async with await aio.connect(url) as trail:
            service = TrailSessionService(trail)
            made = await service.create_session(app_name="app", user_id="ann")
            valid = {
                **samples(walked, tmp_path),
                "app_name": lambda: "app",
                "session_id": lambda: made.id,
                "session": lambda: made,
                "event": lambda: AdkEvent(author="user"),
                "items": lambda: [{"role": "user", "content": "hi"}],
                "trail": lambda: trail,
            }
            for target in (service, TrailSession("walk", trail, user_id="ann")):
                for label, method in public_methods(target):
                    if not inspect.iscoroutinefunction(method):
                        continue
                    for parameter, bad, kwargs in calls(label, method, valid):
                        error = await awaited_outcome(
                            functools.partial(method, **kwargs)
                        )
                        problems.append(
                            judge(label, parameter, bad, error, ADAPTER_DOCUMENTED)
                        )
            first_calls: dict[type[Any], Callable[[Any], Awaitable[Any]]] = {
                TrailSession: lambda made: made.get_items(),
                TrailSessionService: lambda made: made.list_sessions(app_name="app"),
            }
            for adapter, first_call in first_calls.items():
                label = adapter.__name__
                for parameter, bad, kwargs in calls(label, adapter, valid):
                    build = functools.partial(adapter, **kwargs)
                    error = await awaited_outcome(
                        functools.partial(built_then, build, first_call)
                    )
                    problems.append(
                        judge(label, parameter, bad, error, ADAPTER_DOCUMENTED)
                    )

    asyncio.run(walk())
    assert_none(problems)


@pytest.mark.parametrize("arguments", [ListOptions, SessionQAUpdate, SessionAsset])
def test_values_built_to_pass_to_a_call_refuse_bad_fields_by_name(
    arguments: type[Any],
) -> None:
    problems = []
    for field in arguments.model_fields:
        given = {"id": "walk"} if "id" in arguments.model_fields else {}
        for bad in (Alien(), -1, "\x00", 10**100):
            error = outcome(functools.partial(arguments, **{**given, field: bad}))
            if not isinstance(error, InvalidInput | None):
                problems.append(f"{arguments.__name__}({field}={bad!r}): {error!r}")
            if isinstance(bad, Alien) and field not in str(error):
                problems.append(f"{arguments.__name__}({field}=<alien>): {error!r}")
    assert_none(problems)


def langgraph_samples(trail: SessionTrail, tmp_path: Path) -> dict[str, Any]:
    """Valid arguments of the LangGraph savers' calls."""
    checkpoint = {
        "v": 4,
        "id": "1f0c2a8e-3b1d-6c4e-8000-2d8b1e0c4a93",
        "ts": "2026-01-02T03:04:05+00:00",
        "channel_values": {"n": 1},
        "channel_versions": {"n": 1},
        "versions_seen": {},
    }
    thread = {"configurable": {"thread_id": "walk", "checkpoint_ns": ""}}
    return {
        **samples(trail, tmp_path),
        "config": lambda: {
            "configurable": {
                **thread["configurable"],
                "checkpoint_id": checkpoint["id"],
            }
        },
        "checkpoint": lambda: checkpoint,
        "metadata": lambda: {"source": "loop", "step": 0},
        "new_versions": lambda: {"n": 1},
        "writes": lambda: [("n", 2)],
        "task_id": lambda: "task",
        "thread_id": lambda: "walk",
        "source_thread_id": lambda: "walk",
        "target_thread_id": lambda: "walk-copy",
        "trail": lambda: trail,
    }


async def outcome_of(call: Callable[[], Any]) -> BaseException | None:
    """What a sync call, a coroutine or an async generator raised, if anything."""
    try:
        result = call()
        if inspect.isawaitable(result):
            await result
        elif inspect.isasyncgen(result):
            [found async for found in result]
        elif isinstance(result, Iterator):
            list(result)
    except Exception as error:
        return error
    return None


def test_the_langgraph_savers_raise_only_documented_errors(
    walked: SessionTrail, url: str, tmp_path: Path
) -> None:
    problems: list[str | None] = []

    async def walk() -> None:
        async with await aio.connect(url) as trail:
            valid = langgraph_samples(trail.sync, tmp_path)
            savers = (TrailSaver(trail.sync), AsyncTrailSaver(trail))
            for saver in savers:
                for label, method in public_methods(saver):
                    for parameter, bad, kwargs in calls(label, method, valid):
                        call = functools.partial(method, **kwargs)
                        error = await outcome_of(call)
                        problems.append(judge(label, parameter, bad, error))
            for adapter, first in (
                (TrailSaver, "get_tuple"),
                (AsyncTrailSaver, "aget_tuple"),
            ):
                for parameter, bad, kwargs in calls(adapter.__name__, adapter, valid):
                    build = functools.partial(adapter, **kwargs)
                    error = await outcome_of(
                        lambda build=build, first=first: getattr(build(), first)(
                            valid["config"]()
                        )
                    )
                    problems.append(judge(adapter.__name__, parameter, bad, error))

    asyncio.run(walk())
    assert_none(problems)
