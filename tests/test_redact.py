"""Secrets are redacted in JSON text, plain-text headers, query strings, objects and profiles."""

import json

import polars as pl
import pytest

from mlmon.redact import REDACTED, is_secret_key, redact_columns, redact_expr, redact_obj, redact_text, redact_url

SECRET = ["Authorization", "proxy-authorization", "Cookie", "Set-Cookie", "X-Api-Key", "api_key", "apiKey",
          "password", "db_passwd", "client_secret", "X-Client-Secret", "token", "access_token", "id_token",
          "X-Auth-Token", "x-access-token", "private_key", "aws_access_key_id",
          # issue 11 item 8: camelCase and run-together endings, long keys, credentials
          "sessionToken", "accesstoken", "csrfToken", "a" * 80 + "_password", "privateKey", "aws_credentials"]
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
    # Issue 11 item 8: the forms that leaked from --rejects.
    (r'{"api\u005fkey": "S18", "x": 1}', ["S18"], ['"x": 1']),
    (r'{"\u0050ASSWORD": "S19", "Api\u002DKey": "S20"}', ["S19", "S20"], []),
    ('{"' + "a" * 80 + '_password": "S21", "x": 1}', ["S21"], ['"x": 1']),
    ("{'password': 'S22', 'x': 1}", ["S22"], ["'x': 1", "'password': '[REDACTED]'"]),
    ('{"headers": [["Authorization", "Bearer S23"], ["Accept", "json"]]}', ["S23"], ['["Accept", "json"]']),
    ("[('Cookie', 'S24'), ('X', 'y')]", ["S24"], ["('X', 'y')"]),
    ('{"url": "https://user:S25@host.example/x?q=1", "u": "https:\\/\\/bob:S26@h\\/"}', ["S25", "S26"],
     ["https://user:[REDACTED]@host.example/x?q=1"]),
    ('{"sessionToken": "S27", "max_tokens": 5}', ["S27"], ['"max_tokens": 5']),
    # Issue 11 item 7: a Python repr of a request, secrets nested at any depth
    ("ValueError: bad input {'api_key': 'S28', 'headers': {'Authorization': 'Bearer S29'}, "
     "'user': {'password': 'S30', 'name': 'ann'}}", ["S28", "S29", "S30"], ["'name': 'ann'"]),
    ("Request(user='ann', password='S31', opts={'token': b'S32, x'})", ["S31", "S32"], ["user='ann'"]),
    # JSON inside a JSON string: an escaped key, a nested value, a quote inside the value
    (json.dumps({"r": '{"api\\u005fkey": "S33", "x": 2}'}), ["S33"], ['\\"x\\": 2']),
    (json.dumps({"r": json.dumps({"token": {"a": "S34"}})}), ["S34"], []),
    (json.dumps({"r": json.dumps({"password": 'a"b S35'})}), ["S35"], []),
    # plain text: key=value, key: value, configured keys, a secret inside a JSON string's text
    ("retry password=S36 user=ann; api_key = 'S37'", ["S36", "S37"], ["user=ann"]),
    ('{"msg": "Authorization: Bearer S38", "x": "ok"}', ["S38"], ['"x": "ok"']),
    ("tokens: 5, max_tokens=7, key_id: k", [], ["tokens: 5, max_tokens=7, key_id: k"]),
]


def polars_redact(texts: list[str], extra: tuple[str, ...] = ()) -> list[str]:
    return pl.DataFrame({"t": texts}, schema={"t": pl.String}).select(redact_expr(pl.col("t"), extra)).to_series().to_list()


@pytest.mark.parametrize("raw,gone,kept", LINES)
def test_text_redaction_in_polars_and_python_agree(raw, gone, kept):
    polars = polars_redact([raw])[0]
    assert polars == redact_text(raw)
    for secret in gone:
        assert secret not in polars, polars
    for text in kept:
        assert text in polars
    assert (REDACTED in polars) == bool(gone)
    assert redact_text(polars) == polars  # redacting again changes nothing


def test_the_patterns_agree_with_the_key_rule_for_every_key_shape():
    """A value is redacted exactly when its key names a secret, in each form, in both engines."""
    fragments = ["", "x", "Api", "_", "-", "key", "token", "TOKEN", "s", "pass", "word", "auth", "orization", "max_",
                 "cookie", "secret", "ssn", "credential", "ok"]
    keys = sorted({a + b + c for a in fragments for b in fragments for c in fragments[:8]} - {""})
    texts, expected = [], []
    for key in keys:
        secret = is_secret_key(key, ("ssn",))
        for text in (json.dumps({key: "V1", "n": 1}), repr({key: "V1"}), f"{key}=V1 n", f"{key}: V1",
                     json.dumps({key: "V1"}).replace("_", "\\u005f")):
            texts.append(text)
            expected.append(secret)
    polars = polars_redact(texts, ("ssn",))
    for text, out, secret in zip(texts, polars, expected):
        assert out == redact_text(text, ("ssn",)), text
        assert ("V1" not in out) == secret, (text, out)


HOSTILE = {  # 1 MB of text shaped like keys, values and escapes, none closed as expected
    "an unclosed key": '"' + "password" * 125_000,
    "a key as long as the line": '{"' + "a" * 1_000_000 + '_password": "LONGKEY"}',
    "escaped quotes": '\\"a\\"' * 166_000,
    "quotes": '"' * 1_000_000,
    "single quotes": "'password'" * 100_000,
    "a query": "?" + "password" * 125_000,
    "user info": "x://a:b" * 142_000,
    "brackets": "[" * 1_000_000,
    "keys ending in token": '"atoken' * 142_000,
    "escapes": '"' + "\\u0070" * 166_000,
    "names": "a.password" * 100_000,
    "escaped keys": '{\\"' + "\\\\u0070" * 142_000,
}


@pytest.mark.parametrize("name", HOSTILE)
def test_a_long_hostile_line_is_redacted_in_linear_time(name):
    """Issue 11 item 8: no catastrophic backtracking. Each line ends with a secret that must go;
    the suite's time bounds the run (no timing assertion here)."""
    line = HOSTILE[name] + ' {"password": "TAIL"}'
    python = redact_text(line)
    assert python == polars_redact([line])[0]
    assert "TAIL" not in python and "LONGKEY" not in python
    assert python.endswith('"[REDACTED]"}') or python.endswith("[REDACTED]")


def test_column_redaction_is_text_redaction_of_each_value():
    """Issue 11 item 6: the cheap scan that picks the values to redact misses none (case, escapes, URLs)."""
    texts = [raw for raw, _, _ in LINES] + ["plain", None, '{"PRÉNOM": "S39"}', "https:/\\/u:S40@h", "tokens: 5"] * 2
    out = redact_columns(pl.DataFrame({"t": texts}), ["t"], ("prénom",)).get_column("t").to_list()
    assert out == [None if t is None else redact_text(t, ("prénom",)) for t in texts]
    assert not any("S39" in t or "S40" in t for t in out if t)


def test_text_redaction_with_configured_keys():
    assert "S12" not in redact_text('{"ssn": "S12", "ok": true}', ("ssn",))


def test_objects_and_urls():
    value = {"headers": {"X-Auth-Token": "a", "Accept": "json"}, "items": [{"client_secret": 1}], "max_tokens": 3}
    assert redact_obj(value) == {"headers": {"X-Auth-Token": REDACTED, "Accept": "json"},
                                 "items": [{"client_secret": REDACTED}], "max_tokens": 3}
    url = redact_url("http://user:pw@127.0.0.1:8080/predict?api_key=K&q=1&access_token=T")
    assert "pw" not in url and "K&" not in url and "=T" not in url and "q=1" in url
    assert json.dumps(redact_obj({"a": [1, {"password": "x"}]})) == '{"a": [1, {"password": "[REDACTED]"}]}'
    # Issue 11 items 6 and 7: [name, value] pairs, JSON text inside a string, configured keys
    assert redact_obj({"h": [["Authorization", "B1"], ["Accept", "json"]], "s": '{"token": "T1"}', "ssn": 1},
                      ("ssn",)) == {"h": [["Authorization", REDACTED], ["Accept", "json"]],
                                    "s": '{"token": "[REDACTED]"}', "ssn": REDACTED}
