"""Every field path of a sample of JSON objects: its type, how often it holds a value, and examples.

The sample is a column of JSON object texts. Polars decodes it whole, inferring one schema
across every row, and each key is then a column; an object's exact JSON text
(``json_path_match``) is profiled the same way, level by level. When
the rows disagree too much for one schema (an object in some rows, a number in others),
or a key's values are text (which may stand for values of several types merged), each key
of that level is read four times instead, once per type with the values of other
types left null, which tells the types apart; its objects are then profiled the same way.
No step loops over records in Python; the loops here run once per path.
"""

from __future__ import annotations

import io
import json
from dataclasses import dataclass, field

import polars as pl

from mlmon.logs.decode import jsonpath
from mlmon.logs.normalize import parse_ts
from mlmon.redaction import REDACTED, is_secret_key, redact_text

Path_ = tuple[str, ...]
#: What a decode of odd JSON can raise (a Rust panic is no Exception).
_DECODE_ERRORS = (pl.exceptions.PolarsError, pl.exceptions.PanicException, ValueError, OverflowError)

#: Examples kept per path, and the characters of each.
EXAMPLES = 3
EXAMPLE_CHARS = 60
#: Paths no deeper than this are profiled; deeper objects are listed as objects.
MAX_DEPTH = 16
#: A text path is a time when at least this share of its values parse as one.
TIME_SHARE = 0.9


@dataclass
class FieldProfile:
    """One path of the sampled records."""

    path: Path_
    #: string, integer, number, boolean, object, array, null (only ever null), or "mixed: a, b".
    kind: str
    #: Sampled records where the path holds a value (not null, not missing).
    present: int
    examples: list[str] = field(default_factory=list)
    #: For text: its values read as times (ISO-8601); for numbers: "epoch s/ms/us/ns" when the name says time.
    time: str | None = None
    #: For objects: how many leaf paths lie under it.
    leaves: int = 0
    secret: bool = False

    @property
    def name(self) -> str:
        return ".".join(self.path)

    def to_dict(self, records: int) -> dict:
        return {
            "path": self.name,
            "keys": list(self.path),
            "type": self.kind,
            "present": self.present,
            "null_rate": round(1 - self.present / records, 4) if records else None,
            "examples": self.examples,
            "time": self.time,
            "secret": self.secret,
        }


def profile_objects(texts: pl.Series, secret_keys: tuple[str, ...] = ()) -> list[FieldProfile]:
    """The profile of every path in ``texts`` (JSON object texts, one per record), parents before children."""
    texts = texts.drop_nulls()
    if not texts.len():
        return []
    return _level(texts, (), secret_keys)


def _secret(path: Path_, secret_keys: tuple[str, ...]) -> bool:
    """Whether any key of ``path`` names a secret (README "Secrets")."""
    return any(is_secret_key(key, secret_keys) for key in path)


def _buffer(texts: pl.Series) -> io.BytesIO:
    buffer = io.BytesIO()
    texts.to_frame().write_csv(buffer, include_header=False, quote_style="never")
    buffer.seek(0)
    return buffer


def _level(texts: pl.Series, prefix: Path_, secret_keys: tuple[str, ...]) -> list[FieldProfile]:
    """The paths below ``prefix`` in ``texts``, one JSON object text per row."""
    try:
        frame = pl.read_ndjson(_buffer(texts), infer_schema_length=None)
    except _DECODE_ERRORS:
        return _level_by_type(texts, prefix, secret_keys)
    # Text may stand for values of several types the inference merged (3, "3", true): read by type.
    texts_of = [n for n, dtype in frame.schema.items() if dtype == pl.String]
    by_type: dict[str, list[FieldProfile]] = {}
    for found in _level_by_type(texts, prefix, secret_keys, texts_of) if texts_of else []:
        by_type.setdefault(found.path[len(prefix)], []).append(found)
    out: list[FieldProfile] = []
    for name in frame.columns:
        if name in texts_of:
            out += by_type.get(name, [])
        elif isinstance(frame.schema[name], pl.Struct):
            out += _object(texts.str.json_path_match(jsonpath((name,))), prefix + (name,), secret_keys)
        else:
            out += _typed(frame.get_column(name), prefix + (name,), secret_keys)
    return out


def _object(texts: pl.Series, path: Path_, secret_keys: tuple[str, ...]) -> list[FieldProfile]:
    """An object's path and the paths inside it, from its exact JSON text in each record (null where absent).

    The text, not the decoded struct, is profiled in turn, so that types the inference merged deeper
    down (an age that is 31 here and "unknown" there) are told apart at every level.
    """
    here = FieldProfile(path, "object", texts.len() - texts.null_count(), secret=_secret(path, secret_keys))
    below = _level(texts.drop_nulls(), path, secret_keys) if len(path) < MAX_DEPTH else []
    here.leaves = sum(1 for p in below if p.kind != "object")
    return [here, *below]


def _typed(column: pl.Series, path: Path_, secret_keys: tuple[str, ...]) -> list[FieldProfile]:
    """The profile of one decoded column, and of the paths inside it when it is a struct."""
    dtype = column.dtype
    present = column.len() - column.null_count()
    secret = _secret(path, secret_keys)
    kind = _kind_of(dtype)
    profile = FieldProfile(path, kind, present, secret=secret)
    profile.examples = _examples(column, secret, secret_keys)
    if kind == "string":
        profile.time = _text_time(column)
    elif kind in ("integer", "number"):
        profile.time = _epoch_unit(column, path)
    return [profile]


def _kind_of(dtype: pl.DataType) -> str:
    if dtype == pl.Null:
        return "null"
    if dtype == pl.Boolean:
        return "boolean"
    if dtype.is_integer():
        return "integer"
    if dtype.is_float():
        return "number"
    if isinstance(dtype, (pl.List, pl.Array)):
        return "array"
    return "string"


def _examples(column: pl.Series, secret: bool, secret_keys: tuple[str, ...]) -> list[str]:
    """A few distinct values as text, secrets redacted, each cut short."""
    values = column.drop_nulls()
    if isinstance(column.dtype, (pl.List, pl.Array)):
        values = values.to_frame("v").select(pl.struct("v").struct.json_encode().str.slice(5).str.head(-1)).to_series()
    values = values.head(256).unique(maintain_order=True).head(EXAMPLES).to_list()
    if secret and values:
        return [REDACTED]
    out = []
    for value in values:
        text = value if isinstance(value, str) else json.dumps(value)
        text = redact_text(text, secret_keys)
        out.append(text if len(text) <= EXAMPLE_CHARS else text[: EXAMPLE_CHARS - 1] + "…")
    return out


def _text_time(column: pl.Series) -> str | None:
    """"ISO" when the values are times as text (numbers written as text are not)."""
    values = column.drop_nulls().cast(pl.String)
    if not values.len() or values.str.contains(r"^\s*-?[0-9.eE+]+\s*$").all():
        return None
    if values.str.contains(ASCTIME_PATTERN).mean() >= TIME_SHARE:
        return ASCTIME
    parsed, _ = parse_ts(values)
    if parsed.is_not_null().mean() < TIME_SHARE:
        return None
    zoned = values.str.contains(r"(?:[zZ]|[+-]\d\d:?\d\d)\s*$").any()
    return "ISO-8601" if zoned else NAIVE


#: Python logging's ``asctime`` (``2024-02-27 10:36:08,908``), read with ``ts_format``, naive.
ASCTIME = "asctime, no zone"
ASCTIME_PATTERN = r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3}$"
#: Times as text with no zone (``2024-02-27 10:36:08``): the mapping's ``timezone`` says which.
NAIVE = "ISO-8601, no zone"


#: Key words that make a number an epoch time.
TIME_WORDS = ("time", "timestamp", "ts", "created", "date", "at")


def _epoch_unit(column: pl.Series, path: Path_) -> str | None:
    """"epoch s" (ms, us, ns) when the key names a time and the numbers are plausible epochs."""
    if not is_time_key(path[-1]):
        return None
    values = column.drop_nulls().cast(pl.Float64)
    if not values.len():
        return None
    unit = epoch_unit(float(values.median()))
    return f"epoch {unit}" if unit else None


def epoch_unit(value: float) -> str | None:
    """The unit in which ``value`` is a time between 1990 and 2100, if any."""
    for unit, scale in (("s", 1), ("ms", 1e3), ("us", 1e6), ("ns", 1e9)):
        if 6.3e8 * scale <= value <= 4.2e9 * scale:
            return unit
    return None


def squash(key: str) -> str:
    """A key compared loosely: lower case, without ``_``, ``-``, ``@`` and spaces."""
    return "".join(c for c in key.lower() if c not in "_-@ .")


def is_time_key(key: str) -> bool:
    word = squash(key)
    return word in {"time", "timestamp", "ts", "created", "createdat", "starttime", "datetime", "date",
                    "eventtime", "requesttime", "inferencetime", "logtime", "asctime", "start", "receivedat"}


# --- when one schema does not fit every row ------------------------------------------------------

_KEY = r'"((?:[^"\\]|\\.)*)"\s*:'


def _level_by_type(texts: pl.Series, prefix: Path_, secret_keys: tuple[str, ...],
                   keys: list[str] | None = None) -> list[FieldProfile]:
    """The paths below ``prefix`` (of ``keys``, default all), each key read once per type (see the module's docstring)."""
    keys = _keys(texts) if keys is None else keys
    if not keys:
        return []
    reads = {}
    for name, dtype in (("text", pl.String), ("int", pl.Int64), ("num", pl.Float64), ("bool", pl.Boolean)):
        try:
            reads[name] = pl.read_ndjson(_buffer(texts), schema={k: dtype for k in keys}, ignore_errors=True)
        except _DECODE_ERRORS:
            return []
    out: list[FieldProfile] = []
    for key in keys:
        text = reads["text"].get_column(key)
        if not text.len() - text.null_count():
            continue  # a key of a deeper level, or only ever null: nothing to say at this level
        out += _one_key_by_type(key, text, reads, prefix + (key,), secret_keys)
    return out


def _keys(texts: pl.Series) -> list[str]:
    """Every quoted key in the texts, at any depth (the read keeps those of this level), first seen first."""
    found = texts.str.extract_all(_KEY).explode().drop_nulls()
    keys = found.str.extract(_KEY).unique(maintain_order=True).to_list()
    return [k for k in keys if k and "\\" not in k]


def _one_key_by_type(key: str, text: pl.Series, reads: dict, path: Path_,
                     secret_keys: tuple[str, ...]) -> list[FieldProfile]:
    is_bool = reads["bool"].get_column(key).is_not_null()
    is_int = reads["int"].get_column(key).is_not_null()
    is_num = reads["num"].get_column(key).is_not_null() & ~is_int
    other = text.is_not_null() & ~is_bool & ~is_int & ~is_num
    stripped = text.str.strip_chars_start()
    is_obj = other & stripped.str.starts_with("{") & stripped.str.json_path_match("$").is_not_null()
    is_arr = other & stripped.str.starts_with("[") & ~is_obj
    is_str = other & ~is_obj & ~is_arr
    kinds = [name for name, mask in (("object", is_obj), ("array", is_arr), ("string", is_str), ("integer", is_int),
                                     ("number", is_num), ("boolean", is_bool)) if mask.any()]
    secret = _secret(path, secret_keys)
    present = int(text.is_not_null().sum())
    kind = kinds[0] if len(kinds) == 1 else "mixed: " + ", ".join(kinds)
    here = FieldProfile(path, kind, present, secret=secret)
    below: list[FieldProfile] = []
    if "object" in kinds and len(path) < MAX_DEPTH:
        below = _level(text.filter(is_obj), path, secret_keys)
        here.leaves = sum(1 for p in below if p.kind != "object")
    if kind != "object":
        here.examples = _examples(text, secret, secret_keys)
    if kind == "string":
        here.time = _text_time(text)
    elif kind in ("integer", "number"):
        here.time = _epoch_unit(reads["num"].get_column(key), path)
    return [here, *below]
