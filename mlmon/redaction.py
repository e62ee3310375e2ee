"""Hide secrets (Authorization headers, cookies, API keys, configured fields) in text mlmon writes.

A key names a secret when, compared case-insensitively, it

- contains ``authorization``, ``cookie``, ``password``, ``passwd``, ``secret``, ``credential``,
  ``api_key``/``api-key``/``apikey``, ``private_key`` or ``access_key`` (any of ``_``, ``-`` or
  nothing between the two words); or
- ends in ``token`` (``token``, ``id_token``, ``X-Auth-Token``, ``sessionToken``), which
  ``max_tokens`` and ``token_count``, counts in LLM logs, do not; or
- is one of the extra keys the user configured (the mapping's ``redact:`` list).

In text, the value that follows such a key is replaced, wherever the pair stands (at any
depth: each pair is found on its own), in these forms:

- ``"key": value`` (JSON), ``'key': value`` (a Python repr) and ``\\"key\\": value`` (JSON
  inside a JSON string), with the key's letters possibly written as ``\\u00XX`` escapes. The
  value goes whatever its type: a string (even one cut short), a number, or an object or
  array one level deep; anything deeper takes the rest of the text (or, inside a JSON
  string, the rest of that string) with it;
- pairs in a list: ``["Authorization", "Bearer …"]``, ``('Authorization', '…')``;
- ``key: value`` in plain text, such as a header line: the rest of the line, up to a quote;
- ``key=value`` and ``key == value``, as in a query string, keyword arguments or a line of
  code; and the query parameters ``key=``, ``sig=`` and ``signature=``;
- the password of a URL's user info: ``https://user:[REDACTED]@host/``.

Not redacted: a secret under a key that does not name one (``"x": "sk-live-…"``), a key
written with other escapes than ``\\u00XX`` (such as a surrogate pair), and a bare
``key value`` with neither ``:`` nor ``=`` between them.

:func:`mlmon.redact.redact_expr` (Polars, for columns) and :func:`redact_text` (Python, for one
string) apply the same patterns, built once here. This module is pure Python, so that serving code
(``mlmon.logging``) redacts without importing Polars; :mod:`mlmon.redact` adds the Polars side. Polars' regex engine runs in linear time; for
Python's, which backtracks, each repeat that could rescan text is atomic or possessive,
and a match can start only where a key can (after a character that is not a backslash),
so a long hostile line costs linear time too.
"""

from __future__ import annotations

import functools
import re
from typing import Any

REDACTED = "[REDACTED]"

#: Words that make a key secret wherever they stand in it.
_WORDS = ("authorization", "cookie", "password", "passwd", "secret", "credential", "api_key", "api-key", "apikey",
          "private_key", "private-key", "privatekey", "access_key", "access-key", "accesskey")
#: A key that ends in this is secret.
_ENDING = "token"
#: Query parameters that hold signatures and keys in signed URLs.
_QUERY_NAMES = ("key", "sig", "signature")


# --- the patterns, built for either engine ------------------------------------------------------------
#
# ``rust`` builds for Polars (no lookaround, no atomic groups; linear by construction); otherwise
# for Python's re, where ``_atomic`` and ``_possessive`` stop a failed match from rescanning.


def _atomic(text: str, rust: bool) -> str:
    return f"(?:{text})" if rust else f"(?>{text})"


def _possessive(text: str, rust: bool) -> str:
    return f"{text}*" if rust else f"{text}*+"


def _literal(char: str) -> str:
    """``char`` as both engines read it: a letter or digit as itself, anything else by its code."""
    if char.isascii() and char.isalnum():
        return char
    return f"\\u{ord(char):04x}" if ord(char) < 0x10000 else f"\\U{ord(char):08x}"


def _letter(char: str, escapes: bool) -> str:
    """One character of a key word: itself, or (in JSON) its ``\\u00XX`` escape in either case."""
    if not escapes or not (char.isascii() and (char.isalnum() or char in "_-")):
        return _literal(char)
    codes = sorted({f"{ord(c):02x}" for c in (char.lower(), char.upper())})
    return rf"(?:{_literal(char)}|\\{{1,2}}u00(?:{'|'.join(codes)}))"


def _word(word: str, escapes: bool) -> str:
    return "".join(_letter(c, escapes) for c in word)


def _key(char: str, extra_keys: tuple[str, ...], rust: bool, escapes: bool = True) -> str:
    """A whole key made of ``char``s that names a secret; each way of naming one is tried on its own."""
    words = "|".join(_word(w, escapes) for w in _WORDS)
    alternatives = [_atomic(f"{char}*(?:{words}){_possessive(char, rust)}", rust),
                    _atomic(f"{char}*{_word(_ENDING, escapes)}", rust)]
    alternatives += [_word(k.lower(), escapes) for k in extra_keys]
    return "(?:" + "|".join(alternatives) + ")"


# Strings: double-quoted, single-quoted (a repr; b'' for bytes), each possibly cut short at the end.
_DQ = r'"(?:[^"\\]|\\.)*(?:"|\\?$)'
_SQ = r"b?'(?:[^'\\]|\\.)*(?:'|\\?$)"
#: An object or array one level deep (strings inside may hold any bracket), or else the rest of the
#: text: a value nested deeper is not worth matching exactly, and must not leak.
_NESTED = (rf"\{{(?:[^{{}}\"']|{_DQ}|{_SQ})*\}}|\[(?:[^\[\]\"']|{_DQ}|{_SQ})*\]|[\{{\[].*")
_BARE = r"[^,}\])\s]+"
# Inside a JSON string: \" opens and closes a string; \\\" is a quote inside it; the rest of the
# outer string stands for a nested value.
_EQ = r'\\"(?:[^"\\]|\\\\\\"|\\[^"])*(?:\\"|\\*$)'
_E_NESTED = r'[\{\[](?:[^"\\]|\\.)*'
_E_BARE = r'[^,}\])\s\\]+'


def _ahead(text: str, rust: bool) -> str:
    """For Python only, a lookahead that the rest of the pattern implies anyway: it rejects most
    starts after one cheap scan, before the key words are tried at each character."""
    return "" if rust else f"(?={text})"


def _pairs(quote: str, char: str, value: str, extra_keys: tuple[str, ...], rust: bool) -> str:
    """``QkeyQ: value`` (not after a backslash) or ``[QkeyQ, value``, the head kept as ``head``."""
    ahead = _ahead(char + "*+" + quote + r"\s*[:,]", rust)
    key = f"{quote}{ahead}{_key(char, extra_keys, rust)}{quote}"
    return rf"(?is)(?P<head>(?:^|[^\\]){key}\s*:\s*|[\[(]\s*{key}\s*,\s*)(?:{value})"


def _named(extra_keys: tuple[str, ...], rust: bool, separator: str) -> str:
    """A secret name in plain text, a whole run of word characters, dots and dashes, then ``separator``."""
    name = _key(_NAME_CHAR, extra_keys, rust, escapes=False)
    return rf"(?:^|[^\w.-]){_ahead(f'{_NAME_CHAR}++{separator}', rust)}{name}{separator}"


_NAME_CHAR = r"[\w.-]"


def _patterns(extra_keys: tuple[str, ...], rust: bool) -> list[tuple[str, str, str]]:
    """(pattern, replacement, text without which the pattern cannot match), applied in order."""
    quoted = r"""(?P<dq>")[^"\r\n]*"?|(?P<sq>')[^'\r\n]*'?"""
    query = "|".join(_QUERY_NAMES)
    slash = r"\\?/"
    line_head = _named(extra_keys, rust, r"[ \t]*:")
    assignment_head = _named(extra_keys, rust, r"[ \t]{0,8}==?")
    return [
        (_pairs('"', r'(?:[^"\\]|\\.)', f"{_DQ}|{_NESTED}|{_BARE}", extra_keys, rust), f'${{head}}"{REDACTED}"', '"'),
        (_pairs("'", r"(?:[^'\\]|\\.)", f"{_SQ}|{_DQ}|{_NESTED}|{_BARE}", extra_keys, rust),
         f"${{head}}'{REDACTED}'", "'"),
        (_pairs(r'\\"', r'(?:[^"\\]|\\\\)', f"{_EQ}|{_E_NESTED}|{_E_BARE}", extra_keys, rust),
         f'${{head}}\\"{REDACTED}\\"', '\\"'),
        # Name: value, to the end of the line (a header line, a log message).
        (rf"(?i)(?P<head>{line_head}[ \t]*)(?:\"[^\"\r\n]*\"?|'[^'\r\n]*'?|[^\r\n'\"]+)",
         f"${{head}}{REDACTED}", ":"),
        # name=value, name = value, name == value: query strings, keyword arguments, code.
        (rf"(?i)(?P<head>{assignment_head}[ \t]{{0,8}})(?:\[REDACTED\]|{quoted}|[^&#,;\s)}}\]'\"]+)",
         f"${{head}}${{dq}}${{sq}}{REDACTED}${{dq}}${{sq}}", "="),
        (rf"(?i)(?P<head>[?&;](?:{query})=)[^&#\s'\",)]*", f"${{head}}{REDACTED}", "="),
        # scheme://user:password@host, with / possibly escaped as \/ in JSON.
        (rf"(?P<head>:{slash}{slash}[^/\s:@'\"\\?#]*:)[^/\s@'\"\\?#]+@", f"${{head}}{REDACTED}@", "/"),
    ]


def _replacer(template: str):
    """A function that expands a Polars (Rust) replacement, ``${name}`` for a group, as Rust does:
    a group that took no part is empty, and backslashes are plain text."""
    parts = re.split(r"\$\{(\w+)\}", template)  # literal, group name, literal, ...

    def expand(match: re.Match) -> str:
        return "".join(part if i % 2 == 0 else (match.group(part) or "") for i, part in enumerate(parts))

    return expand


@functools.lru_cache(maxsize=32)
def _python_patterns(extra_keys: tuple[str, ...]) -> list[tuple[re.Pattern, Any, str]]:
    return [(re.compile(p), _replacer(r), needed) for p, r, needed in _patterns(extra_keys, rust=False)]


def _keys(extra_keys) -> tuple[str, ...]:
    return tuple(sorted({str(k).lower() for k in extra_keys}))


def redact_text(text: str, extra_keys: tuple[str, ...] = ()) -> str:
    """The same as :func:`mlmon.redact.redact_expr`, for one string."""
    if not may_hold_secret(text, extra_keys):
        return text
    for pattern, replacement, needed in _python_patterns(_keys(extra_keys)):
        if needed in text:
            text = pattern.sub(replacement, text)
    return text


@functools.lru_cache(maxsize=32)
def _key_regex(extra_keys: tuple[str, ...]) -> re.Pattern:
    return re.compile(_key(".", extra_keys, rust=False, escapes=False), re.I | re.S)


def is_secret_key(name: str, extra_keys: tuple[str, ...] = ()) -> bool:
    """Whether a key names a secret (see the module's docstring)."""
    return _key_regex(_keys(extra_keys)).fullmatch(str(name)) is not None


def redact_obj(value: Any, extra_keys: tuple[str, ...] = ()) -> Any:
    """A copy of a JSON-like value with the values of secret keys replaced, at any depth, as are the
    second items of ``[name, value]`` pairs, and secrets inside its strings (JSON text, header lines)
    redacted as :func:`redact_text` does."""
    if isinstance(value, dict):
        return {k: (REDACTED if is_secret_key(k, extra_keys) else redact_obj(v, extra_keys)) for k, v in value.items()}
    if isinstance(value, list):
        if len(value) == 2 and isinstance(value[0], str) and is_secret_key(value[0], extra_keys):
            return [value[0], REDACTED]
        return [redact_obj(v, extra_keys) for v in value]
    if isinstance(value, str) and may_hold_secret(value, extra_keys):
        return redact_text(value, extra_keys)
    return value


def is_secret_path(path: str, extra_keys: tuple[str, ...] = ()) -> bool:
    """Whether a dotted path like ``headers.Authorization`` or ``items[0].token`` names a secret."""
    return secret_key_in(path, extra_keys) is not None


def secret_key_in(path: str, extra_keys: tuple[str, ...] = ()) -> str | None:
    """The first key of a dotted path that names a secret, or None."""
    return next((part for part in re.split(r"[.\[\]]", path) if part and is_secret_key(part, extra_keys)), None)


#: Text that every redacted form holds (compared case-insensitively): text without any is left as it is.
_TRIGGERS = ("auth", "cookie", "passw", "secret", "credential", "api", "key", "token", "sig", ":/", ":\\/", "\\u00")


def _triggers(extra_keys: tuple[str, ...]) -> list[str]:
    # Upper case too: Polars' scan folds the case of ASCII letters only.
    return [*_TRIGGERS, *_keys(extra_keys), *(k.upper() for k in _keys(extra_keys))]


def may_hold_secret(text: str, extra_keys: tuple[str, ...] = ()) -> bool:
    """False when redaction cannot change ``text``: a cheap test before the patterns run."""
    lowered = text.lower()
    return any(t in lowered for t in _triggers(extra_keys))


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
