"""Which hot fix answered the request in flight, for the middleware that logs it (a module of its own,
so that neither mlmon.hotfix nor mlmon.logging loads the other).

The middleware puts a fresh :class:`HotfixSlot` in a context variable for each request; a
:class:`mlmon.hotfix.HotfixLayer` called by the handler names its rule there (:func:`note_hotfix`).
The slot is one shared object, so the name arrives even from a handler that a framework runs in a
worker thread with a copy of the context (Starlette's sync endpoints).
"""

from __future__ import annotations

from contextvars import ContextVar


class HotfixSlot:
    """The name of the hot fix that answered, or None (the model answered)."""

    __slots__ = ("name",)

    def __init__(self) -> None:
        self.name: str | None = None


_SLOT: ContextVar[HotfixSlot | None] = ContextVar("mlmon_hotfix_slot", default=None)


def open_slot():
    """A new slot for the request about to run, and the token that :func:`close_slot` takes."""
    slot = HotfixSlot()
    return slot, _SLOT.set(slot)


def close_slot(token) -> None:
    try:
        _SLOT.reset(token)
    except ValueError:  # reset from another context (a server that moved the call): the slot just stays
        pass


def note_hotfix(name: str) -> None:
    """Record that hot fix ``name`` answered the request in flight (nothing outside a logged request)."""
    slot = _SLOT.get()
    if slot is not None:
        slot.name = name
