"""Where things live in a store, on a local disk or in object storage (``s3://bucket/prefix``).

::

    STORE/
      _mlmon/registry.json         the commit: sources, their offsets, the parts (replaced atomically)
      _mlmon/registry.prev.json    the commit before it, for recovery by hand
      _mlmon/lock                  held by ingest, compact and prune while they write
      date=2026-11-27/part-….parquet

A part is in place before the registry that names it is committed, so a part no registry
names (left by a killed run) is ignored by readers and removed by the next writer.

On a local disk a part is written under a hidden temporary name (DuckDB's and Spark's globs
skip it) and renamed; the registry is replaced by a rename. In object storage a PUT is atomic
(an object is visible whole or not at all), so parts are written to their final key, and the
registry is replaced by a conditional PUT (If-Match on the ETag read at the start of the run):
should another writer have committed in between, the commit fails instead of losing its work.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import polars as pl

from mlmon.errors import InputError
from mlmon.safetext import printable

META_DIR = "_mlmon"
REGISTRY = "registry.json"
PREVIOUS = "registry.prev.json"
LOCK = "lock"
PARTITION = "date"
#: The name of the file of paired events waiting for their partner, under META_DIR (see ingest's join).
PENDING_PREFIX = "pending-"
_SCHEMES = ("s3://",)


class StoreDir:
    """A store's location; :class:`LocalStore` or :class:`ObjectStore`."""

    text: str

    def url(self, relative: str) -> str:
        raise NotImplementedError

    @property
    def storage_options(self) -> dict[str, Any] | None:
        return None

    def read_meta(self, name: str) -> tuple[bytes | None, str | None]:
        """The content of ``_mlmon/NAME`` and its version (None, None when missing)."""
        raise NotImplementedError

    def write_meta(self, name: str, data: bytes, expect: str | None = None, *, create: bool = False) -> None:
        """Replace ``_mlmon/NAME`` atomically (in object storage only if its version is still ``expect``,
        or, with ``create``, only if it does not exist yet)."""
        raise NotImplementedError

    def write_part(self, relative: str, frame: pl.DataFrame, **parquet: Any) -> int:
        raise NotImplementedError

    def sink_part(self, relative: str, frame: pl.LazyFrame, **parquet: Any) -> int:
        raise NotImplementedError

    def delete(self, relative: str) -> None:
        raise NotImplementedError

    def stray_files(self, committed: set[str]) -> list[str]:
        """Files under the partitions that no commit names, and temporary files."""
        raise NotImplementedError

    def meta_bytes(self) -> int:
        raise NotImplementedError

    def exists(self) -> bool:
        return self.read_meta(REGISTRY)[0] is not None

    def has(self, relative: str) -> bool:
        """Whether the file (object) is there."""
        raise NotImplementedError

    def __str__(self) -> str:
        return self.text


@dataclass(frozen=True, eq=False)
class LocalStore(StoreDir):
    root: Path
    text: str

    @property
    def meta(self) -> Path:
        return self.root / META_DIR

    @property
    def lock_path(self) -> Path:
        return self.meta / LOCK

    def url(self, relative: str) -> str:
        return str(self.root / relative)

    def has(self, relative: str) -> bool:
        return (self.root / relative).exists()

    def read_meta(self, name: str) -> tuple[bytes | None, str | None]:
        try:
            return (self.meta / name).read_bytes(), None
        except FileNotFoundError:
            return None, None
        except OSError as exc:
            raise InputError(f"cannot read {self.meta / name}: {exc.strerror or exc}",
                             "Check the store's permissions.") from None

    def write_meta(self, name: str, data: bytes, expect: str | None = None, *, create: bool = False) -> None:
        from mlmon.atomic import atomic_open

        try:
            with atomic_open(self.meta / name, "wb") as handle:
                handle.write(data)
        except InputError as exc:
            why = exc.message.rsplit(": ", 1)[-1]
            raise InputError(f"cannot commit to the store {self.text}: {why}; nothing was committed",
                             "Free some space (or fix the permissions) and run again.") from None
        _sync_directory(self.meta)

    def write_part(self, relative: str, frame: pl.DataFrame, **parquet: Any) -> int:
        return self._into_place(relative, lambda tmp: frame.write_parquet(tmp, **parquet))

    def sink_part(self, relative: str, frame: pl.LazyFrame, **parquet: Any) -> int:
        return self._into_place(relative, lambda tmp: frame.sink_parquet(tmp, maintain_order=True, **parquet))

    def _into_place(self, relative: str, write) -> int:
        final = self.root / relative
        tmp = final.parent / f".{final.name}.tmp"
        try:
            final.parent.mkdir(parents=True, exist_ok=True)
            write(tmp)
            with open(tmp, "rb") as handle:
                os.fsync(handle.fileno())
            os.replace(tmp, final)
            _sync_directory(final.parent)
            return final.stat().st_size
        except BaseException:
            _unlink(tmp)
            raise

    def delete(self, relative: str) -> None:
        _unlink(self.root / relative)
        folder = (self.root / relative).parent
        if folder != self.root and folder.name.startswith(f"{PARTITION}="):
            try:
                folder.rmdir()  # only when empty
            except OSError:
                pass

    def stray_files(self, committed: set[str]) -> list[str]:
        out = []
        for folder in self.root.glob(f"{PARTITION}=*"):
            if not folder.is_dir():
                continue
            for path in folder.iterdir():
                relative = f"{folder.name}/{path.name}"
                if path.is_file() and (path.name.endswith(".tmp") or (path.suffix == ".parquet" and relative not in committed)):
                    out.append(relative)
        out += [f"{META_DIR}/{p.name}" for p in self.meta.glob(".*.tmp")]
        out += [relative for p in self.meta.glob(f"{PENDING_PREFIX}*.parquet")
                if (relative := f"{META_DIR}/{p.name}") not in committed]
        return out

    def meta_bytes(self) -> int:
        return sum(f.stat().st_size for f in self.meta.iterdir() if f.is_file())


class ObjectStore(StoreDir):
    """A store under ``s3://bucket/prefix``, through obstore (the object_store crate Polars itself uses),
    configured by the standard AWS environment variables (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY,
    AWS_REGION, AWS_ENDPOINT_URL, AWS_ALLOW_HTTP, …)."""

    #: While a run holds the lease (mlmon.store.lock): renews it now, or raises InputError when it is lost.
    confirm_lease = None

    def __init__(self, text: str):
        try:
            import obstore
            from obstore.store import from_url
        except ImportError:
            raise InputError(f"cannot use {printable(text)}: object storage needs the s3 extra",
                             "Install it with: pip install 'mlmon[s3]'.") from None
        self.text = text.rstrip("/")
        self._ob = obstore
        try:
            self._store = from_url(self.text, **_client_options())
        except Exception as exc:  # obstore raises its own error types for a bad URL or configuration
            raise InputError(f"cannot use {printable(text)} as a store: {_short(exc)}",
                             "Check the URL (s3://bucket/prefix) and the AWS_* environment variables.") from None

    def url(self, relative: str) -> str:
        return f"{self.text}/{relative}"

    def has(self, relative: str) -> bool:
        try:
            self._call(f"look for {relative}", self._ob.head, self._store, relative)
            return True
        except FileNotFoundError:
            return False

    @property
    def storage_options(self) -> dict[str, Any] | None:
        options = {}
        for env, key in (("AWS_ENDPOINT_URL", "aws_endpoint_url"), ("AWS_ALLOW_HTTP", "aws_allow_http"),
                         ("AWS_REGION", "aws_region"), ("AWS_ACCESS_KEY_ID", "aws_access_key_id"),
                         ("AWS_SECRET_ACCESS_KEY", "aws_secret_access_key"), ("AWS_SESSION_TOKEN", "aws_session_token")):
            if os.environ.get(env):
                options[key] = os.environ[env]
        return options or None

    def _call(self, what: str, fn, *args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except FileNotFoundError:
            raise
        except (self._ob.exceptions.AlreadyExistsError, self._ob.exceptions.PreconditionError):
            raise
        except Exception as exc:
            if type(exc).__name__ == "NotFoundError":
                raise FileNotFoundError(what) from None
            raise InputError(f"cannot {what} in the store {printable(self.text)}: {_short(exc)}",
                             "Check the bucket, the credentials and the AWS_* environment variables.") from None

    def read_meta(self, name: str) -> tuple[bytes | None, str | None]:
        try:
            result = self._call(f"read {META_DIR}/{name}", self._ob.get, self._store, f"{META_DIR}/{name}")
        except FileNotFoundError:
            return None, None
        return bytes(result.bytes()), result.meta.get("e_tag")

    def write_meta(self, name: str, data: bytes, expect: str | None = None, *, create: bool = False) -> None:
        mode: Any = "create" if create else ({"e_tag": expect} if expect else "overwrite")
        try:
            self._call(f"write {META_DIR}/{name}", self._ob.put, self._store, f"{META_DIR}/{name}", data, mode=mode)
        except (self._ob.exceptions.AlreadyExistsError, self._ob.exceptions.PreconditionError):
            raise InputError(f"another run committed to the store {printable(self.text)} during this one; "
                             "this run's work was not committed", "Run again: it reads what is still new.") from None

    def write_part(self, relative: str, frame: pl.DataFrame, **parquet: Any) -> int:
        import io

        buffer = io.BytesIO()
        frame.write_parquet(buffer, **parquet)
        data = buffer.getvalue()
        self._call(f"write {relative}", self._ob.put, self._store, relative, data)
        return len(data)

    def sink_part(self, relative: str, frame: pl.LazyFrame, **parquet: Any) -> int:
        return self.write_part(relative, frame.collect(engine="streaming"), **parquet)

    def delete(self, relative: str) -> None:
        try:
            self._call(f"delete {relative}", self._ob.delete, self._store, relative)
        except FileNotFoundError:
            pass

    def _list(self, prefix: str) -> list[dict]:
        out = []
        for batch in self._call("list the parts", self._ob.list, self._store, prefix):
            out.extend(batch)
        return out

    def stray_files(self, committed: set[str]) -> list[str]:
        return [o["path"] for o in [*self._list(f"{PARTITION}="), *self._list(f"{META_DIR}/{PENDING_PREFIX}")]
                if o["path"].endswith(".parquet") and o["path"] not in committed]

    def meta_bytes(self) -> int:
        return sum(o["size"] for o in self._list(f"{META_DIR}/"))

    def lease(self):
        return self._ob, self._store


def _client_options() -> dict[str, Any]:
    allow = os.environ.get("AWS_ALLOW_HTTP", "").lower() in ("1", "true", "yes")
    return {"client_options": {"allow_http": True}} if allow else {}


def _short(exc: BaseException) -> str:
    return printable(str(exc).splitlines()[0][:200]) if str(exc) else type(exc).__name__


def _unlink(path: Path) -> None:
    try:
        os.unlink(path)
    except OSError:
        pass


def _sync_directory(path: Path) -> None:
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


def is_remote(text: str) -> bool:
    return text.startswith(_SCHEMES)


def _location(text: str) -> StoreDir:
    if not text.strip():
        raise InputError("an empty store path was given", "Give the store's directory, or s3://bucket/prefix.")
    if "://" in text and not is_remote(text):
        raise InputError(f"cannot use {printable(text)} as a store: mlmon stores live in a directory or under s3://",
                         "Give a directory path or an s3://bucket/prefix URL.")
    return ObjectStore(text) if is_remote(text) else LocalStore(Path(text), text)


def open_store(text: str) -> StoreDir:
    """An existing store, or InputError saying why ``text`` is not one."""
    store = _location(text)
    if isinstance(store, LocalStore):
        if not store.root.exists():
            raise InputError(f"store {printable(text)} does not exist", "Create it with mlmon ingest LOGS --store DIR.")
        if not store.root.is_dir():
            raise InputError(f"store {printable(text)} is not a directory", "Give the directory mlmon ingest wrote.")
    if not store.exists():
        raise InputError(f"{printable(text)} is not an mlmon store (it has no {META_DIR}/{REGISTRY})",
                         "Give the store mlmon ingest wrote, or create one there with mlmon ingest LOGS --store DIR.")
    return store


def create_store(text: str) -> StoreDir:
    """A store to ingest into: an existing one, or a new one in a missing or empty directory (or prefix)."""
    store = _location(text)
    if isinstance(store, LocalStore) and store.root.exists() and not store.root.is_dir():
        raise InputError(f"store {printable(text)} is not a directory", "Give a directory for the store.")
    if store.exists():
        return store
    if isinstance(store, ObjectStore):
        listed = store._list("")
        if listed and not any(o["path"].startswith(f"{META_DIR}/") for o in listed):
            raise InputError(f"{printable(text)} is not empty and is not an mlmon store",
                             "Give an empty prefix for the store, or the one mlmon ingest wrote.")
        return store
    if store.meta.is_dir():
        return store  # with no registry yet: a first run failed or was killed before its commit
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
