"""Write the HTTP API's OpenAPI schema to docs/openapi.json (a test checks it is
current): `.venv/bin/python scripts/export_openapi.py`."""

from __future__ import annotations

import json
from pathlib import Path

import sessiontrail
from sessiontrail.server.app import create_app
from sessiontrail.server.auth import Tokens

TARGET = Path(__file__).resolve().parent.parent / "docs" / "openapi.json"


def schema() -> str:
    """The schema as committed: sorted keys, two-space indent, final newline."""
    with sessiontrail.connect("memory://openapi") as trail:
        document = create_app(trail, Tokens({})).openapi()
    return json.dumps(document, indent=2, sort_keys=True) + "\n"


if __name__ == "__main__":
    TARGET.write_text(schema())
    print(f"wrote {TARGET}")
