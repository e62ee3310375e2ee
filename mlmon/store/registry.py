"""The registry: the store's one commit point.

It names every source file read (identity, fingerprint, the offset after the last complete
line ingested, counts) and every committed part (path, rows, time range). It is JSON,
written to a temporary file, flushed to disk and renamed over the old one, so a reader sees
the old commit or the new one, whole. The previous commit is kept beside it
(``registry.prev.json``) for recovery by hand.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, fields
from typing import Any

from mlmon.errors import InputError
from mlmon.store.layout import META_DIR, PREVIOUS, REGISTRY, StoreDir

FORMAT = "mlmon-store"
VERSION = 1


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
    #: An object in object storage: its ETag and size when read to its end.
    etag: str | None = None


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
    #: Paired events (a join's requests and responses) read but still waiting for their partner, in one
    #: Parquet file under _mlmon/ that the next ingest reads first (None when none waits).
    pending: PartEntry | None = None

    #: The committed registry's version (ETag) in object storage, for the conditional commit.
    version = None

    def to_json(self) -> str:
        data = {"format": FORMAT, "version": VERSION, **asdict(self)}
        return json.dumps(data, indent=1, ensure_ascii=False) + "\n"

    @property
    def rows(self) -> int:
        return sum(p.rows for p in self.parts)

    def committed(self) -> set[str]:
        """Every file this commit names: its parts, and the waiting events' file."""
        return {p.path for p in self.parts} | ({self.pending.path} if self.pending is not None else set())


#: The type each field must have (a hand-edited registry is checked, not trusted).
_TYPES = {"name": str, "dev": int, "ino": int, "fp": str, "fp_len": int, "offset": int, "lines": int, "records": int,
          "skipped": int, "truncations": int, "path": str, "rows": int, "bytes": int, "skipped_by_reason": dict,
          "min_ts": (str, type(None)), "max_ts": (str, type(None)), "gz": (list, type(None)),
          "last_read": (str, type(None)), "etag": (str, type(None))}


def _entries(cls, items: Any) -> list:
    known = {f.name for f in fields(cls)}
    if not isinstance(items, list) or not all(isinstance(i, dict) for i in items):
        raise ValueError(f"{cls.__name__} list is not a list of objects")
    out = []
    for item in items:
        values = {k: v for k, v in item.items() if k in known}
        for key, value in values.items():
            wanted = _TYPES.get(key)
            if wanted is not None and (not isinstance(value, wanted) or isinstance(value, bool)):
                raise ValueError(f"{key} is {value!r:.40}")
        out.append(cls(**values))
    return out


def load_registry(store: StoreDir) -> Registry:
    """The committed registry (empty for a new store), or InputError saying what to do when it cannot be read."""
    raw, version = store.read_meta(REGISTRY)
    if raw is None:
        registry = Registry()
        registry.version = None
        return registry
    try:
        data = json.loads(raw.decode("utf-8"))
        if not isinstance(data, dict) or data.get("format") != FORMAT:
            raise ValueError("it is not an mlmon store registry")
        if data.get("version") != VERSION:
            raise InputError(f"the store {store} has registry version {data.get('version')!r}; this mlmon reads "
                             f"version {VERSION}", "Use the mlmon version that wrote the store, or rebuild it.")
        registry = Registry(
            generation=int(data.get("generation", 0)),
            mapping=data.get("mapping"),
            redact=[str(k) for k in data.get("redact") or []],
            created=data.get("created"),
            updated=data.get("updated"),
            sources=_entries(SourceEntry, data.get("sources", [])),
            parts=_entries(PartEntry, data.get("parts", [])),
            pending=_entries(PartEntry, [data["pending"]])[0] if data.get("pending") is not None else None,
        )
    except InputError:
        raise
    except (ValueError, TypeError, UnicodeDecodeError) as exc:
        raise _corrupt(store, str(exc)) from None
    registry.version = version
    return registry


def _corrupt(store: StoreDir, why: str) -> InputError:
    registry, previous = store.url(f"{META_DIR}/{REGISTRY}"), store.url(f"{META_DIR}/{PREVIOUS}")
    if store.read_meta(PREVIOUS)[0] is not None:
        how = f"cp {previous} {registry}" if "://" not in registry else f"copy {previous} over {registry}"
        hint = f"Restore the previous commit with: {how} (the next ingest then reads again what the lost commit had read)."
    else:
        hint = "Move the store aside and build it again with mlmon ingest from the logs."
    return InputError(f"the store's registry {registry} is corrupt ({why[:200]})", hint)


def commit_registry(store: StoreDir, registry: Registry) -> None:
    """Replace the registry in one atomic step, keeping the previous commit beside it.

    In object storage the replacement is conditional on the registry being the one this run
    loaded: a commit made meanwhile by another run is never overwritten.
    """
    confirm = getattr(store, "confirm_lease", None)
    if confirm is not None:  # in object storage: the lease is still this run's (see mlmon.store.lock)
        confirm()
    previous, _ = store.read_meta(REGISTRY)
    if previous is not None:
        try:
            store.write_meta(PREVIOUS, previous)
        except InputError:
            pass  # only a convenience for recovery by hand
    registry.generation += 1
    store.write_meta(REGISTRY, registry.to_json().encode("utf-8"), registry.version, create=previous is None)
