"""Paired events waiting for their partner between ingest runs: one Parquet file under ``_mlmon/``.

A mapping's ``join`` pairs a request with its response; a run may read one without the other. The
events still waiting are written beside the registry, and the registry's ``pending`` names the file,
so they are committed with the offsets past them in the one atomic step. The next run reads them
back first. They live outside the ``date=`` partitions, so DuckDB, Spark and Trino never see them.
"""

from __future__ import annotations

import polars as pl

from mlmon.errors import InputError
from mlmon.store.layout import META_DIR, PENDING_PREFIX, StoreDir
from mlmon.store.registry import PartEntry


def waiting_path(run: str) -> str:
    """The store-relative path of the waiting events a run writes."""
    return f"{META_DIR}/{PENDING_PREFIX}{run}.parquet"


def read_waiting(store: StoreDir, entry: PartEntry) -> pl.DataFrame:
    """The events an earlier run left waiting for their partner."""
    try:
        # (glob=False: a store's path may hold [ or *, which a pattern would read otherwise)
        return pl.read_parquet(store.url(entry.path), storage_options=store.storage_options, glob=False)
    except (OSError, pl.exceptions.PolarsError) as exc:
        raise InputError(f"cannot read the store's waiting events {store.url(entry.path)}: "
                         f"{str(exc).splitlines()[0][:160]}",
                         "Restore the file, or remove 'pending' from _mlmon/registry.json to count those "
                         "events as lost.") from None
