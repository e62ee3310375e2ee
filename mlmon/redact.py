"""Hide secrets (Authorization headers, cookies, API keys, configured fields) in text mlmon writes."""

from __future__ import annotations

import re

import polars as pl

REDACTED = "[REDACTED]"

#: Keys whose values are secrets wherever they appear (compared case-insensitively).
SECRET_KEYS = (
    "authorization",
    "proxy-authorization",
    "cookie",
    "set-cookie",
    "x-api-key",
    "api-key",
    "api_key",
    "apikey",
    "password",
    "passwd",
    "secret",
    "client_secret",
    "access_token",
    "refresh_token",
    "token",
)


def _pattern(keys: tuple[str, ...]) -> str:
    names = "|".join(re.escape(k) for k in sorted(set(k.lower() for k in keys), key=len, reverse=True))
    # "key": "value" in JSON text, keeping the key and replacing the string value.
    return r'(?i)("(?:' + names + r')"\s*:\s*)"(?:[^"\\]|\\.)*"'


def redact_expr(text: pl.Expr, extra_keys: tuple[str, ...] = ()) -> pl.Expr:
    """A Polars expression that redacts secret values in JSON text."""
    return text.str.replace_all(_pattern(SECRET_KEYS + extra_keys), f'${{1}}"{REDACTED}"')


def redact_text(text: str, extra_keys: tuple[str, ...] = ()) -> str:
    return re.sub(_pattern(SECRET_KEYS + extra_keys).replace("(?i)", ""), rf'\1"{REDACTED}"', text, flags=re.I)


def redact_obj(value, extra_keys: tuple[str, ...] = ()):
    """A copy of a JSON-like value with the values of secret keys replaced, at any depth."""
    secret = {k.lower() for k in SECRET_KEYS + extra_keys}
    if isinstance(value, dict):
        return {k: (REDACTED if str(k).lower() in secret else redact_obj(v, extra_keys)) for k, v in value.items()}
    if isinstance(value, list):
        return [redact_obj(v, extra_keys) for v in value]
    return value


def is_secret_path(path: str, extra_keys: tuple[str, ...] = ()) -> bool:
    """Whether a dotted path like ``headers.Authorization`` or ``items[0].token`` names a secret."""
    import re as _re

    secret = {k.lower() for k in SECRET_KEYS + extra_keys}
    return any(part.lower() in secret for part in _re.split(r"[.\[\]]", path) if part)


def redact_url(url: str) -> str:
    """A URL with the password of its user info hidden."""
    from urllib.parse import urlsplit, urlunsplit

    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = f"{parts.username}:{REDACTED}@{parts.hostname}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit(parts._replace(netloc=netloc))
