"""The ``--target`` URL: checked before any log is read, and shown with its secrets hidden."""

from __future__ import annotations

import ipaddress
import re
from urllib.parse import urlsplit

from mlmon.safetext import printable
from mlmon.replay.targets import SetupError

HINT = "Give the model server's address, e.g. http://127.0.0.1:8000/predict."
#: Characters of a URL shown in an error; the rest is summarized.
SHOWN_CHARS = 200
_USER_INFO = re.compile(r"^(?P<head>[^/?#]*//)[^/?#]*@")


def redacted_url(url: str) -> str:
    """``url`` with its password and secret query values hidden; never raises.

    A URL too broken to parse loses its whole user info, since the password cannot be told apart.
    """
    from mlmon.redact import redact_text, redact_url

    try:
        return redact_url(url)
    except ValueError:
        return redact_text(_USER_INFO.sub(r"\g<head>[REDACTED]@", url))


def shown_url(url: str) -> str:
    """``url`` quoted as an error may show it: secrets hidden, escaped, cut short."""
    from mlmon.replay.messages import shorten

    return f"'{printable(shorten(redacted_url(url), SHOWN_CHARS))}'"


_PORT_REASON = "its port must be a whole number from 1 to 65535"


def _reason(exc: ValueError) -> str:
    # urllib says "Port out of range 0-65535" or "Port could not be cast to integer value as '…'".
    return _PORT_REASON if str(exc).startswith("Port") else str(exc)


def target_host_port(url: str) -> tuple[str, int]:
    """The host and port of an http:// or https:// ``--target`` URL; SetupError saying what is wrong otherwise.

    Refused: a character a URL never holds raw (a control character, a bidirectional mark), a URL
    that does not parse, another scheme, no host, a port outside 1–65535, and a host name no
    resolver accepts (an empty label, a label over 63 characters).
    """
    for place, char in enumerate(url, 1):
        if printable(char) != char:
            raise SetupError(f"--target holds the character {printable(char)} (character {place}), which a URL "
                             "never holds raw", "Percent-encode it, or give the URL on one line.")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise SetupError(f"--target {shown_url(url)} is not a valid URL: {_reason(exc)}", HINT) from None
    if parts.scheme not in ("http", "https"):
        raise SetupError(f"--target {shown_url(url)} is not an http:// or https:// URL", HINT)
    host = parts.hostname
    if not host:
        raise SetupError(f"--target {shown_url(url)} names no host", HINT)
    if port == 0:
        raise SetupError(f"--target {shown_url(url)} is not a valid URL: {_PORT_REASON}", HINT)
    _check_host(host, url)
    return host, port or (443 if parts.scheme == "https" else 80)


def _check_host(host: str, url: str) -> None:
    """Raise SetupError for a host name that resolving (or aiohttp's URL parser) would refuse with a traceback."""
    import yarl

    try:
        ipaddress.ip_address(host.partition("%")[0])
        return
    except ValueError:
        pass
    try:
        host.encode("idna")
        yarl.URL(url)
    except ValueError as exc:  # UnicodeError is one
        reason = str(exc).rpartition("UnicodeError: ")[2].rstrip(")") or "it cannot be encoded"
        raise SetupError(f"--target {shown_url(url)} has a host name that is not valid ({reason})", HINT) from None
