"""A session id holding `/` or `%` (every LangGraph thread's session is
`langgraph/<thread>`) is one path segment over HTTP when percent-encoded, as the
viewer sends it: every route that names a session reaches it, on every backend,
through the real server as well as in process."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from langchain_core.messages import AIMessage
from langchain_core.runnables import RunnableConfig
from langgraph.graph import START, MessagesState, StateGraph
from support.http import bearer, serve, write_tokens

import sessiontrail
from sessiontrail import SessionTrail
from sessiontrail.integrations.langgraph import TrailSaver
from sessiontrail.server.app import create_app
from sessiontrail.server.auth import Tokens

IDS = ["langgraph/support-7", "a/b/c", "50%25 off/%2F", "café/é", "plain"]


@pytest.fixture
def client(trail: SessionTrail, tmp_path: Path) -> Iterator[TestClient]:
    tokens = Tokens.load(write_tokens(tmp_path / "tokens.json"))
    with TestClient(create_app(trail, tokens)) as opened:
        yield opened


def path(session_id: str, rest: str = "") -> str:
    """The URL path of a session's route, its id encoded as the viewer does."""
    return f"/v1/sessions/{quote(session_id, safe='')}{rest}"


@pytest.mark.parametrize("session_id", IDS)
def test_every_session_route_reaches_an_id_with_slashes(
    client: TestClient, session_id: str
) -> None:
    ann = bearer("ann")
    created = client.post("/v1/sessions", json={"session_id": session_id}, headers=ann)
    assert created.status_code == 201, created.text
    said = client.post(
        path(session_id, "/messages"),
        json={"role": "user", "content": "hi"},
        headers=ann,
    )
    assert said.status_code == 201, said.text
    got = client.get(path(session_id), headers=ann)
    assert got.status_code == 200, got.text
    assert got.json()["session_id"] == session_id
    page = client.get(path(session_id, "/messages"), headers=ann).json()
    assert [message["content"] for message in page["items"]] == ["hi"]
    edited = client.patch(
        path(session_id),
        json={"title": "renamed"},
        headers={**ann, "If-Match": got.headers["ETag"]},
    )
    assert edited.status_code == 200, edited.text
    events = client.get(path(session_id, "/history"), headers=ann).json()
    assert [entry["event"] for entry in events][-1] == "TitleEdited"
    assert client.get(path(session_id), headers=bearer("bob")).status_code == 404
    assert client.delete(path(session_id), headers=ann).status_code == 204
    assert client.get(path(session_id), headers=ann).status_code == 404


def reached_by_its_owner_alone(client: TestClient, prefix: str) -> None:
    """Ann creates `langgraph/t1` under `prefix`, adds a message and reads it
    back; bob's read of it is 404."""
    ann = bearer("ann")
    sent = {"session_id": "langgraph/t1"}
    created = client.post(f"{prefix}/v1/sessions", json=sent, headers=ann)
    assert created.status_code == 201, created.text
    said = client.post(
        prefix + path("langgraph/t1", "/messages"),
        json={"role": "user", "content": "hi"},
        headers=ann,
    )
    assert said.status_code == 201, said.text
    got = client.get(prefix + path("langgraph/t1"), headers=ann)
    assert got.status_code == 200, got.text
    assert got.json()["message_count"] == 1
    theirs = client.get(prefix + path("langgraph/t1"), headers=bearer("bob"))
    assert theirs.status_code == 404


@pytest.mark.parametrize(
    "mounted", [True, False], ids=["mounted under a prefix", "behind a proxy"]
)
def test_an_app_under_a_prefix_reaches_an_id_with_slashes(
    trail: SessionTrail, tmp_path: Path, mounted: bool
) -> None:
    """Mounted in another app at /trail (the path keeps the prefix), or given the
    prefix as its root path by a proxy that took it off the path: an id holding
    `/` is still one segment, for its owner only."""
    app = create_app(trail, Tokens.load(write_tokens(tmp_path / "tokens.json")))
    if mounted:
        outer = FastAPI()
        outer.mount("/trail", app)
        opened, prefix = TestClient(outer), "/trail"
    else:
        opened, prefix = TestClient(app, root_path="/trail"), ""
    with opened as client:
        reached_by_its_owner_alone(client, prefix)


@pytest.mark.parametrize(
    ("mount", "root_path", "sent"),
    [
        ("", "/", ""),
        ("/über", "", "/%C3%BCber"),
        ("/trail", "", "/%74rail"),
    ],
    ids=["root path of a slash", "prefix not in ASCII", "prefix percent-encoded"],
)
def test_a_prefix_spelt_otherwise_reaches_an_id_with_slashes(
    trail: SessionTrail, tmp_path: Path, mount: str, root_path: str, sent: str
) -> None:
    """A root path of "/" (which the router does not set aside), and a prefix
    the client sent percent-encoded: the id's segment is still found in the
    path as sent, and an id holding `/` is one segment, for its owner only."""
    app = create_app(trail, Tokens.load(write_tokens(tmp_path / "tokens.json")))
    if mount:
        outer = FastAPI()
        outer.mount(mount, app)
        opened = TestClient(outer)
    else:
        opened = TestClient(app, root_path=root_path)
    with opened as client:
        reached_by_its_owner_alone(client, sent)


def test_a_langgraph_thread_reads_over_the_real_server(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'graph.db'}"

    def echo(state: MessagesState) -> dict[str, list[AIMessage]]:
        return {"messages": [AIMessage(f"you said: {state['messages'][-1].content}")]}

    builder = StateGraph(MessagesState)
    builder.add_node("echo", echo)
    builder.add_edge(START, "echo")
    with sessiontrail.connect(url) as trail:
        graph = builder.compile(checkpointer=TrailSaver(trail))
        config: RunnableConfig = {
            "configurable": {"thread_id": "t/1", "user_id": "ann"}
        }
        graph.invoke({"messages": [("user", "hello")]}, config)
    session_id = "langgraph/t%2F1"  # the thread's `/` is written %2F in its id
    with serve(url, tmp_path) as served:
        response = served.client.get(
            path(session_id, "/messages"), headers=bearer("ann")
        )
    assert response.status_code == 200, response.text
    assert [item["content"] for item in response.json()["items"]] == [
        "hello",
        "you said: hello",
    ]
