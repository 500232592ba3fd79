"""Which B-trees of a SQLite file an action writes.

The write-ahead log is read back: `pages_written` holds a read transaction open
from before the action (so no checkpoint can restart the log under it), and
after it names each page of the frames the action appended (`dbstat`), by its
table or index."""

from __future__ import annotations

import sqlite3
import struct
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

WAL_HEADER, FRAME_HEADER = 32, 24


def frames(wal: Path, start: int) -> Iterator[tuple[int, bool]]:
    """(page number, whether it commits) of each frame of `wal` from byte `start`."""
    data = wal.read_bytes()
    (page_size,) = struct.unpack(">I", data[8:12])
    offset = max(start, WAL_HEADER)
    while offset + FRAME_HEADER + page_size <= len(data):
        page, size_after = struct.unpack(">II", data[offset : offset + 8])
        yield page, size_after != 0
        offset += FRAME_HEADER + page_size


def page_owners(path: Path) -> dict[int, str]:
    """Page number -> the table or index it belongs to."""
    reader = sqlite3.connect(path)
    try:
        return dict(reader.execute("SELECT pageno, name FROM dbstat"))
    finally:
        reader.close()


@contextmanager
def pages_written(path: Path) -> Iterator[Counter[str]]:
    """Within the block, the log's frames are kept; after it, the Counter holds
    the pages each table and index was written by the block (new pages of the
    file and freed ones under '(none)')."""
    wal = Path(f"{path}-wal")
    pin = sqlite3.connect(path)
    pin.execute("BEGIN")
    pin.execute("SELECT count(*) FROM sqlite_master").fetchone()
    start = wal.stat().st_size
    salt = wal.read_bytes()[16:24]
    written: Counter[str] = Counter()
    try:
        yield written
        assert wal.read_bytes()[16:24] == salt, "the log restarted: pages lost"
        pages = [page for page, _ in frames(wal, start)]
    finally:
        pin.rollback()
        pin.close()
    owners = page_owners(path)
    written.update(owners.get(page, "(none)") for page in pages)
