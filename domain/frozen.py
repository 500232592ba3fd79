"""Read-only JSON containers for value objects: a frozen value is safe to share.

A `Message` is frozen, but pydantic leaves its dicts and lists mutable, so one
caller's in-place edit of a message's `metadata` would reach every copy that
shares the message (the cache's, another request's) while the log holds the
original. Freezing the containers once, when the value is built, lets copies
share messages at no cost and keeps every copy as stored.
"""

from __future__ import annotations

from typing import Any, NoReturn

_CONTAINERS = (dict, list)
_READ_ONLY = (
    "a stored value is read-only: build a changed copy (model_copy(update=...))"
)


def _refuse(*args: object, **kwargs: object) -> NoReturn:
    raise TypeError(_READ_ONLY)


class FrozenDict(dict[str, Any]):
    """A dict that refuses changes (a JSON object inside a frozen value)."""

    __slots__ = ()
    __setitem__ = __delitem__ = __ior__ = _refuse
    clear = pop = popitem = setdefault = update = _refuse

    def __reduce__(self) -> tuple[type[FrozenDict], tuple[dict[str, Any]]]:
        return FrozenDict, (dict(self),)


class FrozenList(list[Any]):
    """A list that refuses changes (a JSON array inside a frozen value)."""

    __slots__ = ()
    __setitem__ = __delitem__ = __iadd__ = __imul__ = _refuse
    append = extend = insert = remove = pop = clear = sort = reverse = _refuse

    def __reduce__(self) -> tuple[type[FrozenList], tuple[list[Any]]]:
        return FrozenList, (list(self),)


def frozen(value: Any) -> Any:
    """`value` with every dict and list in it, nested ones too, read-only."""
    if isinstance(value, dict):
        result = FrozenDict(value)  # copied in C; only nested containers in Python
        for key, item in value.items():
            if isinstance(item, _CONTAINERS):
                dict.__setitem__(result, key, frozen(item))
        return result
    if isinstance(value, list):
        return FrozenList(
            [frozen(item) if isinstance(item, _CONTAINERS) else item for item in value]
        )
    return value
