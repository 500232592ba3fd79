"""An import writes the records it checked, though it reads its file twice.

An import of events checks the whole file (the first reading) before it writes
(the second), reading the file again rather than holding it in memory. A file
changed in between (rewritten by another program, a copy still arriving) would
have its second reading written unchecked. So the first reading notes a digest
of each block of records, and the second hands a block over only once it reads
as it did then: a file changed after its check is refused from the first block
that differs (the blocks before it, checked and unchanged, are written, as after
an interruption; running the import again goes on from there).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from typing import Any

from ..domain.errors import InvalidInput
from .sniffing import Records

Block = list[tuple[str, Any]]


class CheckedFile:
    """Two readings of a file's records, the second held to the first."""

    def __init__(self, records: Records, block_size: int) -> None:
        self._records = records
        self._block_size = block_size
        self._digests: list[bytes] = []

    def first_reading(self) -> Records:
        """The records, for the check; each record handed over and accepted
        (asked past) counts in its block's digest."""

        def read() -> Iterator[tuple[str, Any]]:
            self._digests.clear()
            block: Block = []
            for item in self._records():
                yield item
                block.append(item)
                if len(block) == self._block_size:
                    self._digests.append(_digest(block))
                    block = []
            if block:
                self._digests.append(_digest(block))

        return read

    def second_reading(self) -> Iterator[Block]:
        """The records again, a block at a time, each block as the first reading
        saw it; InvalidInput at the first that differs, or if the file ends
        early."""
        index = 0
        block: Block = []
        for item in self._records():
            block.append(item)
            if len(block) == self._block_size:
                yield self._as_checked(index, block)
                index, block = index + 1, []
        if block:
            yield self._as_checked(index, block)
            index += 1
        if index != len(self._digests):
            raise InvalidInput(_CHANGED.format(where="its end"))

    def _as_checked(self, index: int, block: Block) -> Block:
        if index >= len(self._digests) or _digest(block) != self._digests[index]:
            raise InvalidInput(_CHANGED.format(where=f"{block[0][0]} or after"))
        return block


_CHANGED = (
    "file: changed while it was imported (at {where}): what it held before is "
    "written, the rest is not; run the import again"
)


def _digest(block: Block) -> bytes:
    """A digest of a block's records (a record JSON cannot write: a changed file)."""
    try:
        text = json.dumps(block, ensure_ascii=True)
    except (ValueError, RecursionError):
        return b""
    return hashlib.blake2b(text.encode("ascii"), digest_size=16).digest()
