"""Keyed search tokens: whole-word search over sealed text, one user at a time.

A token is an HMAC-SHA256 of one normalised word (NFKC, case-folded) under a key
derived from the owner's data key (`UserKeys.token_key`). The index stores
tokens, never words: equal words of one user give equal tokens, so a lookup
finds them; another user's tokens differ (another key), and once a user's key
is destroyed no token of theirs can be computed again, so nothing matches.
What the index does show: how many distinct words a text has, and which of a
user's texts share a word.
"""

from __future__ import annotations

import hmac
import re
import unicodedata

WORD = re.compile(r"\w+")
TOKEN_BYTES = 16


def words(text: str) -> list[str]:
    """The distinct normalised words of `text`, in order of first appearance."""
    folded = unicodedata.normalize(
        "NFKC", unicodedata.normalize("NFKC", text).casefold()
    )
    return list(dict.fromkeys(WORD.findall(folded)))


def token(key: bytes, word: str) -> str:
    """The token of one normalised word under a user's token key (hex)."""
    data = word.encode("utf-8", "surrogatepass")  # a lone surrogate matches nothing
    return hmac.digest(key, data, "sha256")[:TOKEN_BYTES].hex()


def tokens(key: bytes, text: str, known: dict[str, str] | None = None) -> list[str]:
    """The tokens of every distinct word of `text`; `known` (word -> token under
    this key, filled as it goes) spares an HMAC per word seen before."""
    if known is None:
        return [token(key, word) for word in words(text)]
    found = []
    for word in words(text):
        if word not in known:
            known[word] = token(key, word)
        found.append(known[word])
    return found
