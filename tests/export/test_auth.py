"""Credentials from the environment: resolution, errors that name variables (never values), redaction."""

from __future__ import annotations

import pickle

import pytest

from clvmodels.export import ExportError
from clvmodels.export.auth import (
    REDACTED,
    ResolvedHeaders,
    redact,
    resolve_headers,
    safe_url,
    url_secrets,
)

ENV = {"CRM_TOKEN": "tok-abc123xyz", "MY_KEY": "k3y/with+odd\"chars", "EMPTY": ""}


def test_templates_and_bearer_auth_resolve_from_the_environment():
    h = resolve_headers({"X-Api-Key": "${MY_KEY}", "X-Both": "${CRM_TOKEN}:${MY_KEY}", "X-Plain": "a $b"},
                        auth={"type": "bearer", "token_env": "CRM_TOKEN"}, environ=ENV)
    assert isinstance(h, dict) and isinstance(h, ResolvedHeaders)
    assert h == {"X-Api-Key": ENV["MY_KEY"], "X-Both": f"{ENV['CRM_TOKEN']}:{ENV['MY_KEY']}", "X-Plain": "a $b",
                 "Authorization": f"Bearer {ENV['CRM_TOKEN']}"}
    assert h.secrets == {ENV["CRM_TOKEN"], ENV["MY_KEY"]}
    assert h.sources == {"X-Api-Key": "env", "X-Both": "env", "X-Plain": "literal", "Authorization": "env"}


def test_repr_and_str_hide_every_secret_and_name_its_variable():
    h = resolve_headers({"X-Api-Key": "${MY_KEY}", "Cookie": "session=literal-cookie-value", "X-Trace": "t1"},
                        auth={"type": "bearer", "token_env": "CRM_TOKEN"}, environ=ENV)
    for text in (repr(h), str(h), f"{h}", repr([h]), repr(pickle.loads(pickle.dumps(h)))):
        assert ENV["CRM_TOKEN"] not in text and ENV["MY_KEY"] not in text and "literal-cookie-value" not in text
        assert "<redacted: $MY_KEY>" in text and "<redacted: $CRM_TOKEN>" in text and "'t1'" in text
    assert "literal-cookie-value" in h.secrets and h.sources["Cookie"] == "literal-secret"


def test_literal_credentials_still_work_and_count_as_secrets():
    h = resolve_headers({"Authorization": "Bearer t0ken-literal"})
    assert h["Authorization"] == "Bearer t0ken-literal"
    assert {"Bearer t0ken-literal", "t0ken-literal"} <= h.secrets and "t0ken" not in repr(h)


@pytest.mark.parametrize(("headers", "auth", "match"), [
    ({"X-Api-Key": "${NOPE}"}, None, r"environment variable 'NOPE' \(used by header 'X-Api-Key'\) is not set"),
    (None, {"type": "bearer", "token_env": "NOPE"}, r"'NOPE' \(used by header 'Authorization'\) is not set"),
    ({"X-Api-Key": "${EMPTY}"}, None, "'EMPTY' .* is set but empty"),
])
def test_a_missing_or_empty_variable_is_an_export_error_naming_it(headers, auth, match):
    with pytest.raises(ExportError, match=match) as err:
        resolve_headers(headers, auth, environ=ENV)
    assert all(v not in str(err.value) for v in ENV.values() if v)


def test_a_line_break_in_a_variable_is_refused_without_showing_it():
    with pytest.raises(ExportError, match="'BAD'.*line break") as err:
        resolve_headers({"X-Api-Key": "${BAD}"}, environ={"BAD": "abc\r\nX-Injected: 1"})
    assert "Injected" not in str(err.value)


@pytest.mark.parametrize(("headers", "auth", "exc", "match"), [
    ({"X-Api-Key": "${1BAD}"}, None, ValueError, "must open a template"),
    ({"X-Api-Key": "${UNCLOSED"}, None, ValueError, "must open a template"),
    ({"Bad Header": "x"}, None, ValueError, "not a valid HTTP header name"),
    ({"X-Num": 3}, None, TypeError, "must be text"),
    ({"Authorization": "Bearer x"}, {"type": "bearer", "token_env": "CRM_TOKEN"}, ValueError, "not both"),
    (None, {"type": "bearer", "token": "inline"}, ValueError, "never the token itself"),
    (None, {"type": "basic", "token_env": "CRM_TOKEN"}, ValueError, "must be 'bearer'"),
    (None, {"type": "bearer", "token_env": "CRM_TOKEN", "scope": "x"}, ValueError, "unknown auth keys"),
    (None, {"type": "bearer", "token_env": "not a var"}, ValueError, "must name an environment variable"),
])
def test_malformed_headers_and_auth_are_refused(headers, auth, exc, match):
    with pytest.raises(exc, match=match):
        resolve_headers(headers, auth, environ=ENV)


def test_resolution_reads_os_environ_at_call_time(monkeypatch):
    monkeypatch.setenv("CLV_TEST_TOKEN", "first-value")
    assert resolve_headers(auth={"type": "bearer", "token_env": "CLV_TEST_TOKEN"})["Authorization"] == \
        "Bearer first-value"
    monkeypatch.setenv("CLV_TEST_TOKEN", "second-value")
    assert resolve_headers(auth={"type": "bearer", "token_env": "CLV_TEST_TOKEN"})["Authorization"] == \
        "Bearer second-value"


def test_redact_removes_plain_json_escaped_and_percent_encoded_spellings():
    secret = ENV["MY_KEY"]
    text = f'raw {secret} json {secret!r} {__import__("json").dumps(secret)} url k3y%2Fwith%2Bodd%22chars ' \
           f"form k3y%2Fwith%2Bodd%22chars"
    out = redact(text, {secret})
    assert "k3y" not in out and out.count(REDACTED) >= 4
    assert redact("abc", {"", "zzz"}) == "abc"
    assert redact("token-long token", {"token", "token-long"}) == f"{REDACTED} {REDACTED}"


@pytest.mark.parametrize(("url", "safe"), [
    ("https://u:p4ss@crm.example.com/api?k=v#frag", "https://crm.example.com/api"),
    ("http://127.0.0.1:8080/x?token=secret", "http://127.0.0.1:8080/x"),
    ("https://[::1]:8443/p", "https://[::1]:8443/p"),
])
def test_safe_url_drops_credentials_query_and_fragment(url, safe):
    assert safe_url(url) == safe


def test_safe_url_refuses_non_http_urls_without_echoing_them():
    for url in ("ftp://u:secretpw@example.invalid/x", "not a url", "/relative"):
        with pytest.raises(ValueError) as err:
            safe_url(url)
        assert "secretpw" not in str(err.value)


def test_url_secrets_lists_what_could_be_a_credential():
    found = url_secrets("https://bot%40corp:pa%2455@crm.example.com/x?api_key=abcd1234&v=1&fmt=csv")
    assert {"bot%40corp", "bot@corp", "pa%2455", "pa$55", "abcd1234"} <= found
    assert "1" not in found and "csv" not in found   # too short to be worth redacting
    assert url_secrets("https://crm.example.com/x") == frozenset()
