"""Secrets are redacted in JSON text, plain-text headers, query strings, objects and profiles."""

import json

import polars as pl
import pytest

from mlmon.redact import REDACTED, is_secret_key, redact_expr, redact_obj, redact_text, redact_url

SECRET = ["Authorization", "proxy-authorization", "Cookie", "Set-Cookie", "X-Api-Key", "api_key", "apiKey",
          "password", "db_passwd", "client_secret", "X-Client-Secret", "token", "access_token", "id_token",
          "X-Auth-Token", "x-access-token", "private_key", "aws_access_key_id"]
NOT_SECRET = ["user", "max_tokens", "prompt_tokens", "tokens", "token_count", "model", "keyword", "session_length_s"]


@pytest.mark.parametrize("key", SECRET)
def test_secret_keys(key):
    assert is_secret_key(key)


@pytest.mark.parametrize("key", NOT_SECRET)
def test_keys_that_are_not_secret(key):
    assert not is_secret_key(key)


def test_configured_keys_are_secret_too():
    assert not is_secret_key("ssn")
    assert is_secret_key("SSN", ("ssn",))


LINES = [
    # (raw text, secrets that must go, text that must stay)
    ("Authorization: Bearer S1", ["S1"], ["Authorization: "]),
    ("curl -H 'Authorization: Bearer S2' -H \"Cookie: a=S3\" 'http://x/?token=S4&api_key=S5&q=keep'",
     ["S2", "S3", "S4", "S5"], ["q=keep"]),
    ('{"request": {"password": 123456789, "token": {"a": "S6"}, "api_key": ["S7", "S8"]}}', ["123456789", "S6", "S7", "S8"],
     ['"password": "[REDACTED]"']),
    ('{"ts": "bad", "X-Auth-Token": "S9", "auth_token": "S10", "max_tokens": 50, "user": "ann"}', ["S9", "S10"],
     ['"max_tokens": 50', '"user": "ann"']),
    ('{"pad": "xx", "Authorization": "Bearer S11 cut short', ["S11"], ['"pad": "xx"']),
    ('{"ssn": "S12", "ok": true}', [], ['"ok": true']),
    # JSON inside a JSON string, a quoted header value, brackets inside strings, deeper nesting
    (json.dumps({"ts": "bad", "request": json.dumps({"api_key": "S13", "x": 1})}), ["S13"], ['\\"x\\": 1']),
    ('Authorization: "Bearer S14"', ["S14"], []),
    (json.dumps({"password": {"v": "a}b", "w": "S15"}}), ["S15"], []),
    (json.dumps({"api_key": ["k]x", "S16"]}), ["S16"], []),
    (json.dumps({"token": {"a": {"b": "S17"}}}), ["S17"], []),
]


@pytest.mark.parametrize("raw,gone,kept", LINES)
def test_text_redaction_in_polars_and_python_agree(raw, gone, kept):
    polars = pl.DataFrame({"t": [raw]}).select(redact_expr(pl.col("t"))).item()
    assert polars == redact_text(raw)
    for secret in gone:
        assert secret not in polars, polars
    for text in kept:
        assert text in polars
    assert (REDACTED in polars) == bool(gone)


def test_text_redaction_with_configured_keys():
    assert "S12" not in redact_text('{"ssn": "S12", "ok": true}', ("ssn",))


def test_objects_and_urls():
    value = {"headers": {"X-Auth-Token": "a", "Accept": "json"}, "items": [{"client_secret": 1}], "max_tokens": 3}
    assert redact_obj(value) == {"headers": {"X-Auth-Token": REDACTED, "Accept": "json"},
                                 "items": [{"client_secret": REDACTED}], "max_tokens": 3}
    url = redact_url("http://user:pw@127.0.0.1:8080/predict?api_key=K&q=1&access_token=T")
    assert "pw" not in url and "K&" not in url and "=T" not in url and "q=1" in url
    assert json.dumps(redact_obj({"a": [1, {"password": "x"}]})) == '{"a": [1, {"password": "[REDACTED]"}]}'
