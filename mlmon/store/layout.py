"""Where things live in a store directory.

::

    STORE/
      _mlmon/registry.json         the commit: sources, their offsets, the parts (replaced atomically)
      _mlmon/lock                  held by ingest, compact and prune while they write
      date=2026-11-27/part-….parquet

A part is renamed into place before the registry that names it is committed, so a part
that no registry names (left by a killed run) is ignored by readers and removed by the next
writer. Temporary files start with a dot, which DuckDB's and Spark's globs skip.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from mlmon.errors import InputError
from mlmon.safetext import printable

META_DIR = "_mlmon"
REGISTRY = "registry.json"
LOCK = "lock"
PARTITION = "date"


@dataclass(frozen=True)
class StoreDir:
    """A store's directory on the local file system."""

    root: Path

    @property
    def meta(self) -> Path:
        return self.root / META_DIR

    @property
    def registry(self) -> Path:
        return self.meta / REGISTRY

    @property
    def lock(self) -> Path:
        return self.meta / LOCK

    def part(self, relative: str) -> Path:
        return self.root / relative

    def exists(self) -> bool:
        return self.registry.is_file()


def refuse_remote(text: str) -> None:
    if "://" in text:
        raise InputError(f"cannot use {printable(text)} as a store: only a local directory is supported",
                         "Give a directory path; object storage is not supported yet (see the README's Store section).")


def open_store(text: str) -> StoreDir:
    """An existing store, or InputError saying why ``text`` is not one."""
    refuse_remote(text)
    store = StoreDir(Path(text))
    if not store.root.exists():
        raise InputError(f"store {printable(text)} does not exist", "Create it with mlmon ingest LOGS --store DIR.")
    if not store.root.is_dir():
        raise InputError(f"store {printable(text)} is not a directory", "Give the directory mlmon ingest wrote.")
    if not store.exists():
        raise InputError(f"{printable(text)} is not an mlmon store (it has no {META_DIR}/{REGISTRY})",
                         "Give the directory mlmon ingest wrote, or create a store there with mlmon ingest LOGS --store DIR.")
    return store


def create_store(text: str) -> StoreDir:
    """A store to ingest into: an existing one, or a new one in a missing or empty directory."""
    refuse_remote(text)
    store = StoreDir(Path(text))
    if store.exists():
        return store
    if store.root.exists():
        if not store.root.is_dir():
            raise InputError(f"store {printable(text)} is not a directory", "Give a directory for the store.")
        if any(not name.startswith(".") for name in os.listdir(store.root)):
            raise InputError(f"{printable(text)} is not empty and is not an mlmon store",
                             "Give an empty or new directory for the store, or the directory mlmon ingest wrote.")
    try:
        store.meta.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InputError(f"cannot create the store {printable(text)}: {exc.strerror or exc}",
                         "Check the path and its permissions.") from None
    return store
