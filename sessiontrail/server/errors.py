"""The error model as HTTP: every failure is one JSON body whose `detail` says
what is wrong, with the status its error maps to here (and only here)."""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from ..domain.errors import (
    ConcurrencyConflict,
    InvalidInput,
    SessionNotFound,
    StorageUnavailable,
)

logger = logging.getLogger("sessiontrail.http")


class Unauthorized(Exception):
    """No token, or one this server does not know."""


class Conflict(Exception):
    """The id is already taken."""


class Forbidden(Exception):
    """A user token asked for an admin operation."""


STATUS: dict[type[Exception], int] = {
    SessionNotFound: 404,
    InvalidInput: 422,
    Forbidden: 403,
    Conflict: 409,
    ConcurrencyConflict: 409,  # still conflicting after the merge retries
}
"""Errors whose message is the whole answer, and their status."""


def problem(status: int, detail: str, **headers: str) -> JSONResponse:
    """A failure's response: `{"detail": ...}` with that status and headers."""
    return JSONResponse({"detail": detail}, status_code=status, headers=headers)


def add_error_handlers(app: FastAPI) -> None:
    """Answer each error with its status; an outage is 503, a bug 500 (logged)."""

    @app.exception_handler(Unauthorized)
    def unauthorized(request: Request, exc: Unauthorized) -> JSONResponse:
        return problem(
            401, "a valid bearer token is required", **{"WWW-Authenticate": "Bearer"}
        )

    def plain(request: Request, exc: Exception) -> JSONResponse:
        status = next(STATUS[kind] for kind in type(exc).__mro__ if kind in STATUS)
        return problem(status, str(exc))

    for error in STATUS:
        app.add_exception_handler(error, plain)

    @app.exception_handler(StorageUnavailable)
    def down(request: Request, exc: StorageUnavailable) -> JSONResponse:
        logger.warning("storage unavailable: %s", exc)
        return problem(503, "storage unavailable; retry", **{"Retry-After": "1"})

    @app.exception_handler(Exception)
    def broken(request: Request, exc: Exception) -> JSONResponse:
        logger.error("unexpected error", exc_info=exc)
        return problem(500, "internal error; it is logged on the server")

    @app.exception_handler(RequestValidationError)
    def unprocessable(request: Request, exc: RequestValidationError) -> JSONResponse:
        problems = [
            ".".join(str(part) for part in error["loc"]) + ": " + error["msg"]
            for error in exc.errors()
        ]
        return problem(422, "; ".join(problems))
