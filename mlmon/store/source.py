"""A store given where logs are expected: ``--store DIR`` travels through the commands as a LOGS argument."""

from __future__ import annotations

from datetime import datetime


class StoreInput(str):
    """The store's directory, standing in for the LOGS list (``[StoreInput(...)]``), with the time range to read.

    It is a ``str`` so that every caller that lists, prints or compares its inputs keeps working;
    :func:`mlmon.logs.reader.read_logs` reads the store's committed parts instead of files.
    """

    since: datetime | None
    until: datetime | None

    def __new__(cls, path: str, since: datetime | None = None, until: datetime | None = None) -> "StoreInput":
        self = super().__new__(cls, path)
        self.since, self.until = since, until
        return self


def store_input(inputs) -> StoreInput | None:
    """The store among ``inputs``, if they are one."""
    if len(inputs) == 1 and isinstance(inputs[0], StoreInput):
        return inputs[0]
    return None
