"""Log files in object storage (``s3://bucket/logs/``) as ingest's sources.

An object is final once written, like a rotated gzip file: it is read to its end (a last line
without a newline included), then recognized by its ETag and size without being fetched again.
An object rewritten with more lines (the same first bytes, a new ETag) is read from the offset
reached. Bytes are streamed, never held whole.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import Any, Iterator

from mlmon.errors import InputError
from mlmon.logs.sources import reading_order
from mlmon.safetext import printable
from mlmon.store.layout import ObjectStore, is_remote


@dataclass(frozen=True)
class RemoteSource:
    name: str
    key: str
    size: int
    etag: str | None
    store: Any  # the bucket's obstore handle

    path = None  # not a local file

    @property
    def compressed(self) -> bool:
        return self.key.endswith(".gz")

    def stream(self, start: int = 0) -> "ObjectStream":
        """The object's bytes from ``start`` (of its stored bytes) on, streamed."""
        import obstore

        options = {"range": (start, self.size)} if start else None
        try:
            result = obstore.get(self.store, self.key, options=options)
        except Exception as exc:
            raise InputError(f"cannot read {printable(self.name)}: {str(exc).splitlines()[0][:200]}",
                             "Check the URL and the credentials.") from None
        return ObjectStream(iter(result.stream()))


class ObjectStream:
    """A read-only binary stream over an iterator of byte chunks."""

    def __init__(self, chunks: Iterator):
        self._chunks = chunks
        self._buffer = b""
        self._position = 0

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        while size < 0 or len(self._buffer) < size:
            piece = next(self._chunks, None)
            if piece is None:
                break
            self._buffer += bytes(piece)
        if size < 0:
            out, self._buffer = self._buffer, b""
        else:
            out, self._buffer = self._buffer[:size], self._buffer[size:]
        self._position += len(out)
        return out

    def tell(self) -> int:
        return self._position

    def close(self) -> None:
        pass


def remote_sources(url: str) -> list[RemoteSource]:
    """The log objects ``url`` names: one object, or those under a prefix named like logs, oldest rotation first."""
    bucket_url = "/".join(url.split("/", 3)[:3])  # s3://bucket
    key = url.split("/", 3)[3] if url.count("/") >= 3 else ""
    handle = ObjectStore(bucket_url)
    objects = []
    for batch in handle._call("list the logs", _list, handle, key):
        objects.extend(batch)
    exact = [o for o in objects if o["path"] == key]
    prefix = key.rstrip("/") + "/" if key else ""
    chosen = exact or [o for o in objects if o["path"].startswith(prefix) and _named_like_logs(o["path"])]
    if not chosen:
        raise InputError(f"no log files at {printable(url)}", "Check the URL: a log object, or a prefix holding logs.")
    chosen.sort(key=lambda o: reading_order(PurePosixPath(o["path"])))  # type: ignore[arg-type]
    return [RemoteSource(f"{bucket_url}/{o['path']}", o["path"], o["size"], o.get("e_tag"), handle._store)
            for o in chosen]


def _list(handle: ObjectStore, key: str):
    import obstore

    return list(obstore.list(handle._store, key or None))


def _named_like_logs(path: str) -> bool:
    from mlmon.logs.sources import _LOG_NAME

    name = PurePosixPath(path).name
    return not name.startswith(".") and _LOG_NAME.fullmatch(name) is not None


def split_inputs(inputs) -> tuple[list[str], list[str]]:
    """Local LOGS arguments and object-storage URLs."""
    return [i for i in inputs if not is_remote(str(i))], [str(i) for i in inputs if is_remote(str(i))]
