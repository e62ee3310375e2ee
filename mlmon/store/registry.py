"""The registry: the store's one commit point.

It names every source file read (identity, fingerprint, the offset after the last complete
line ingested, counts) and every committed part (path, rows, time range). It is JSON,
written to a temporary file, flushed to disk and renamed over the old one, so a reader sees
the old commit or the new one, whole. The previous commit is kept beside it
(``registry.prev.json``) for recovery by hand.
"""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import asdict, dataclass, field, fields
from typing import Any

from mlmon.atomic import write_text_atomic
from mlmon.errors import InputError
from mlmon.store.layout import StoreDir

FORMAT = "mlmon-store"
VERSION = 1
PREVIOUS = "registry.prev.json"


@dataclass
class SourceEntry:
    """One log file as ingested so far."""

    name: str
    dev: int
    ino: int
    #: sha256 of the first ``fp_len`` bytes of the (decompressed) content.
    fp: str
    fp_len: int
    #: Bytes of (decompressed) content ingested: the offset after the last complete line read.
    offset: int = 0
    #: Lines before ``offset``, so that bad lines read later get their line numbers in the file.
    lines: int = 0
    records: int = 0
    skipped: int = 0
    skipped_by_reason: dict[str, int] = field(default_factory=dict)
    #: (dev, ino, size) of a gzip file read whole: it is recognized without decompressing it again.
    gz: list[int] | None = None
    truncations: int = 0
    last_read: str | None = None


@dataclass
class PartEntry:
    """One committed Parquet file."""

    path: str
    rows: int
    min_ts: str | None
    max_ts: str | None
    bytes: int = 0


@dataclass
class Registry:
    generation: int = 0
    #: A digest of the mapping the records were normalized with: one store, one mapping.
    mapping: str | None = None
    #: The mapping's extra secret keys, redacted at ingest and by every command that reads the store.
    redact: list[str] = field(default_factory=list)
    created: str | None = None
    updated: str | None = None
    sources: list[SourceEntry] = field(default_factory=list)
    parts: list[PartEntry] = field(default_factory=list)

    def to_json(self) -> str:
        data = {"format": FORMAT, "version": VERSION, **asdict(self)}
        return json.dumps(data, indent=1, ensure_ascii=False) + "\n"

    @property
    def rows(self) -> int:
        return sum(p.rows for p in self.parts)


def _entries(cls, items: Any) -> list:
    known = {f.name for f in fields(cls)}
    if not isinstance(items, list) or not all(isinstance(i, dict) for i in items):
        raise ValueError(f"{cls.__name__} list is not a list of objects")
    return [cls(**{k: v for k, v in item.items() if k in known}) for item in items]


def load_registry(store: StoreDir) -> Registry:
    """The committed registry, or InputError saying what to do when it cannot be read."""
    try:
        text = store.registry.read_text(encoding="utf-8")
    except FileNotFoundError:
        return Registry()
    except (OSError, UnicodeDecodeError) as exc:
        raise _corrupt(store, str(getattr(exc, "strerror", None) or exc)) from None
    try:
        data = json.loads(text)
        if not isinstance(data, dict) or data.get("format") != FORMAT:
            raise ValueError("it is not an mlmon store registry")
        if data.get("version") != VERSION:
            raise InputError(f"the store {store.root} has registry version {data.get('version')!r}; this mlmon reads "
                             f"version {VERSION}", "Use the mlmon version that wrote the store, or rebuild it.")
        registry = Registry(
            generation=int(data.get("generation", 0)),
            mapping=data.get("mapping"),
            redact=[str(k) for k in data.get("redact") or []],
            created=data.get("created"),
            updated=data.get("updated"),
            sources=_entries(SourceEntry, data.get("sources", [])),
            parts=_entries(PartEntry, data.get("parts", [])),
        )
    except InputError:
        raise
    except (ValueError, TypeError) as exc:
        raise _corrupt(store, str(exc)) from None
    return registry


def _corrupt(store: StoreDir, why: str) -> InputError:
    previous = store.meta / PREVIOUS
    if previous.is_file():
        hint = (f"Restore the previous commit with: cp {previous} {store.registry} "
                "(the next ingest then reads again what the lost commit had read).")
    else:
        hint = "Move the store aside and build it again with mlmon ingest from the logs."
    return InputError(f"the store's registry {store.registry} is corrupt ({why[:200]})", hint)


def commit_registry(store: StoreDir, registry: Registry) -> None:
    """Replace the registry in one atomic rename, keeping the previous commit beside it."""
    registry.generation += 1
    if store.registry.is_file():
        try:
            shutil.copyfile(store.registry, store.meta / PREVIOUS)
        except OSError:
            pass  # only a convenience for recovery by hand
    write_text_atomic(store.registry, registry.to_json())
    _sync_directory(store.meta)


def _sync_directory(path) -> None:
    """Make a rename in ``path`` durable."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
