"""Serves the web viewer: the page at `/`, its scripts and styles at `/viewer/`.

The files are this folder's own (no build step, no third-party code). Only the
files it holds are served, by name, so no path reaches outside it. The page
runs only its own scripts (a Content-Security-Policy says so), and everything
else it does is calls to the HTTP API with the signed-in token.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter
from fastapi.responses import FileResponse

from ...domain.errors import SessionNotFound

FILES = Path(__file__).parent
TYPES = {".js": "text/javascript", ".css": "text/css"}
SERVED = frozenset(path.name for path in FILES.iterdir() if path.suffix in TYPES)
HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; "
        "img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; "
        "base-uri 'none'; form-action 'self'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-cache",
}

router = APIRouter(include_in_schema=False)


@router.get("/")
def index() -> FileResponse:
    """The viewer's page; it signs in with a token and shows sessions."""
    return FileResponse(FILES / "index.html", media_type="text/html", headers=HEADERS)


@router.get("/viewer/{name}")
def asset(name: str) -> FileResponse:
    """One of the viewer's scripts or its stylesheet."""
    if name not in SERVED:
        raise SessionNotFound(f"no viewer file {name!r}")
    path = FILES / name
    return FileResponse(path, media_type=TYPES[path.suffix], headers=HEADERS)
