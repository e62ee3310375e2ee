"""Hide secrets (Authorization headers, cookies, API keys, configured fields) in text mlmon writes.

A key names a secret when, compared case-insensitively, it

- contains ``authorization``, ``cookie``, ``password``, ``passwd``, ``secret``,
  ``api_key``/``api-key``/``apikey``, ``private_key`` or ``access_key``; or
- is ``token`` or ends in ``_token``/``-token`` (``id_token``, ``X-Auth-Token``),
  but not ``max_tokens`` or ``token_count``, which LLM logs use for counts; or
- is one of the extra keys the user configured (the mapping's ``redact:`` list).

In JSON text the value of such a key is replaced whatever its type (a string, even
one cut short, a number, or an object or array one level deep); in other text,
``Authorization: ...``-style header lines and ``?token=...`` query parameters are too.
"""

from __future__ import annotations

import re

import polars as pl

REDACTED = "[REDACTED]"

#: Words that make a key secret wherever they stand in it.
_SECRET_WORDS = ("authorization", "cookie", "password", "passwd", "secret", "api_key", "api-key", "apikey",
                 "private_key", "private-key", "access_key", "access-key")
#: ``token`` as the whole key or its last word.
_TOKEN = r"(?:[^\"\\]{0,64}[_-])?token"
#: Header names written as ``Name: value`` in plain text.
_HEADERS = ("authorization", "proxy-authorization", "cookie", "set-cookie", "x-api-key", "api-key", "x-auth-token")

#: Kept for callers that list the built-in names; matching goes by :func:`is_secret_key`.
SECRET_KEYS = ("authorization", "proxy-authorization", "cookie", "set-cookie", "x-api-key", "api-key", "api_key",
               "apikey", "password", "passwd", "secret", "client_secret", "access_token", "refresh_token", "token")


def is_secret_key(name: str, extra_keys: tuple[str, ...] = ()) -> bool:
    key = str(name).lower()
    if key in {k.lower() for k in extra_keys}:
        return True
    return any(word in key for word in _SECRET_WORDS) or re.fullmatch(r"(?:.*[_-])?token", key) is not None


def _key_pattern(extra_keys: tuple[str, ...]) -> str:
    words = "|".join(re.escape(w) for w in _SECRET_WORDS)
    # Bounded repeats keep the Python search linear on long runs of key-like text.
    alternatives = [rf'[^"\\]{{0,64}}(?:{words})[^"\\]{{0,64}}', _TOKEN]
    alternatives += [re.escape(k.lower()) for k in extra_keys]
    return "(?:" + "|".join(alternatives) + ")"


_STRING = r'"(?:[^"\\]|\\.)*(?:"|\\?$)'  # a string, or one cut short at the end of the text
#: An object or array one level deep (strings inside may hold any bracket), or else the rest of
#: the text: a value nested deeper is not worth matching exactly, and must not leak.
_NESTED = rf'\{{(?:[^{{}}"]|{_STRING})*\}}|\[(?:[^\[\]"]|{_STRING})*\]|[\{{\[].*'


def _json_pattern(extra_keys: tuple[str, ...]) -> str:
    # "key": value, keeping the key; the value whatever its type.
    value = rf'(?:{_STRING}|{_NESTED}|[^,}}\]\s]+)'
    return r'(?is)("' + _key_pattern(extra_keys) + r'"\s*:\s*)' + value


def _escaped_json_pattern(extra_keys: tuple[str, ...]) -> str:
    # The same inside a JSON string that holds JSON: \"key\": \"value\" or a bare value.
    return r'(?i)(\\"' + _key_pattern(extra_keys) + r'\\"\s*:\s*)(?:\\"[^"]*\\"|[^,}\]\s\\]+)'


_HEADER_PATTERN = (r"(?i)(\b(?:" + "|".join(re.escape(h) for h in _HEADERS) + r")[ \t]*:[ \t]*)"
                   r"(?:\"[^\"\r\n]*\"?|'[^'\r\n]*'?|[^\r\n'\"]+)")
_QUERY_PATTERN = (r"(?i)([?&;](?:[a-z0-9_.-]{0,64}(?:token|password|passwd|secret|api_key|apikey|api-key|access_key)"
                  r"[a-z0-9_.-]{0,64}|key|sig|signature)=)[^&#\s'\",)]*")


def redact_expr(text: pl.Expr, extra_keys: tuple[str, ...] = ()) -> pl.Expr:
    """A Polars expression that redacts secret values in JSON text, header lines and query strings."""
    return (
        text.str.replace_all(_json_pattern(extra_keys), f'${{1}}"{REDACTED}"')
        .str.replace_all(_escaped_json_pattern(extra_keys), f'${{1}}\\"{REDACTED}\\"')
        .str.replace_all(_HEADER_PATTERN, f"${{1}}{REDACTED}")
        .str.replace_all(_QUERY_PATTERN, f"${{1}}{REDACTED}")
    )


def redact_text(text: str, extra_keys: tuple[str, ...] = ()) -> str:
    """The same as :func:`redact_expr`, for one string."""
    out = re.sub(_json_pattern(extra_keys).replace("(?is)", ""), rf'\1"{REDACTED}"', text, flags=re.I | re.S)
    out = re.sub(_escaped_json_pattern(extra_keys).replace("(?i)", ""), lambda m: m.group(1) + f'\\"{REDACTED}\\"',
                 out, flags=re.I)
    out = re.sub(_HEADER_PATTERN.replace("(?i)", ""), rf"\1{REDACTED}", out, flags=re.I)
    return re.sub(_QUERY_PATTERN.replace("(?i)", ""), rf"\1{REDACTED}", out, flags=re.I)


def redact_obj(value, extra_keys: tuple[str, ...] = ()):
    """A copy of a JSON-like value with the values of secret keys replaced, at any depth."""
    if isinstance(value, dict):
        return {k: (REDACTED if is_secret_key(k, extra_keys) else redact_obj(v, extra_keys)) for k, v in value.items()}
    if isinstance(value, list):
        return [redact_obj(v, extra_keys) for v in value]
    return value


def is_secret_path(path: str, extra_keys: tuple[str, ...] = ()) -> bool:
    """Whether a dotted path like ``headers.Authorization`` or ``items[0].token`` names a secret."""
    return any(is_secret_key(part, extra_keys) for part in re.split(r"[.\[\]]", path) if part)


def redact_url(url: str) -> str:
    """A URL with the password of its user info and secret query parameters hidden."""
    from urllib.parse import urlsplit, urlunsplit

    parts = urlsplit(url)
    if parts.password is not None:
        netloc = f"{parts.username}:{REDACTED}@{parts.hostname}" + (f":{parts.port}" if parts.port else "")
        parts = parts._replace(netloc=netloc)
    if parts.query:
        parts = parts._replace(query=redact_text("?" + parts.query)[1:])
    return urlunsplit(parts)
