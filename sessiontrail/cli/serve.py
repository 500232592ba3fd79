"""`sessiontrail serve`: the HTTP API (needs the `server` extra), and `token`."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Annotated

import typer

from ..domain.errors import InvalidInput
from ..server.auth import Tokens, digest, new_token
from ..trail import connect
from .options import options


def serve(
    ctx: typer.Context,
    tokens: Annotated[
        Path,
        typer.Option(
            "--tokens",
            envvar="SESSIONTRAIL_TOKENS",
            help="JSON file of hashed bearer tokens (see `sessiontrail token`).",
        ),
    ],
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port (0: any free one).")] = 8000,
    private_docs: Annotated[
        bool, typer.Option("--private-docs", help="No /docs or /openapi.json.")
    ] = False,
    max_body: Annotated[
        int, typer.Option(help="Largest request body accepted, in bytes.")
    ] = 1_000_000,
    read_timeout: Annotated[
        float,
        typer.Option(
            help="Seconds a client has to send a whole request (headers and body); "
            "slower connections are closed."
        ),
    ] = 30.0,
    max_streams: Annotated[
        int,
        typer.Option(
            help="Most live change feeds open at once; past it, 503 with Retry-After."
        ),
    ] = 100,
    max_streams_per_caller: Annotated[
        int,
        typer.Option(
            help="Most live change feeds one user (or admin token name) holds "
            "open at once; past it, 429 with Retry-After."
        ),
    ] = 10,
) -> None:
    """Serve the HTTP API (/v1) until interrupted.

    Logs one JSON line per request, without message content.

    Example: sessiontrail --db postgresql:///chats serve --tokens tokens.json
    """
    import uvicorn

    from ..server.app import create_app
    from ..server.limits import KEEP_ALIVE_SECONDS, timed_protocol
    from ..server.stopping import FeedEndingServer

    allowed = Tokens.load(tokens)
    if port < 0 or port > 65535:
        raise InvalidInput(f"port: must be 0..65535, got {port}")
    if max_body < 0:
        raise InvalidInput(f"max-body: must be >= 0, got {max_body}")
    if not 0 < read_timeout <= 3600:
        raise InvalidInput(
            f"read-timeout: must be in (0, 3600] seconds, got {read_timeout}"
        )
    if max_streams < 0:
        raise InvalidInput(f"max-streams: must be >= 0, got {max_streams}")
    if max_streams_per_caller < 0:
        raise InvalidInput(
            f"max-streams-per-caller: must be >= 0, got {max_streams_per_caller}"
        )
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    with connect(options(ctx).db) as trail:
        app = create_app(
            trail,
            allowed,
            public_docs=not private_docs,
            max_body_bytes=max_body,
            max_streams=max_streams,
            max_streams_per_caller=max_streams_per_caller,
        )
        config = uvicorn.Config(
            app,
            host=host,
            port=port,
            http=timed_protocol(read_timeout),
            timeout_keep_alive=KEEP_ALIVE_SECONDS,
            access_log=False,
            log_level="info",
        )
        FeedEndingServer(config, app).run()


def token(
    tokens: Annotated[
        Path,
        typer.Option(
            "--tokens",
            envvar="SESSIONTRAIL_TOKENS",
            help="Tokens file to add the new token's hash to (created if absent).",
        ),
    ],
    user_id: Annotated[
        str | None, typer.Argument(help="The user the token acts as.")
    ] = None,
    admin: Annotated[bool, typer.Option("--admin", help="An admin token.")] = False,
    name: Annotated[
        str | None,
        typer.Option(help="An admin token's name: its writes read `admin:NAME`."),
    ] = None,
) -> None:
    """Make a bearer token: its hash goes into the tokens file.

    Prints the token: give it to the client; it is not stored anywhere.

    Example: sessiontrail token ann --tokens tokens.json
    """
    if (user_id is None) == (not admin):
        raise InvalidInput("give a USER_ID or --admin (not both)")
    if name is not None and not admin:
        raise InvalidInput("--name: only admin tokens have a name")
    entries = []
    if tokens.exists():
        Tokens.load(tokens)  # a broken file is refused before anything is added
        entries = json.loads(tokens.read_text())
    made = new_token()
    who: dict[str, object] = {"admin": True} if admin else {"user_id": user_id}
    if name is not None:
        who["name"] = name
    entries.append({"sha256": digest(made), **who})
    Tokens.parse(entries, tokens)  # a bad --name is refused before the file changes
    partial = tokens.with_name(tokens.name + ".partial")
    partial.write_text(json.dumps(entries, indent=1) + "\n")
    partial.replace(tokens)
    typer.echo(made)


COMMANDS = (serve, token)
