"""Credentials for CRM deliveries: taken from environment variables at send time, never written down.

A delivery names *where* a secret lives, never the secret itself, so a run config, a ledger, a
receipt or a log can be shared without leaking it:

* ``auth={"type": "bearer", "token_env": "CRM_TOKEN"}`` sends ``Authorization: Bearer <$CRM_TOKEN>``;
* header values may hold ``${VAR}`` templates, e.g.
  ``{"Authorization": "Bearer ${CRM_TOKEN}", "X-Api-Key": "${MY_KEY}"}``; each ``${NAME}``
  (``NAME`` = letters, digits and ``_``, not starting with a digit) is replaced by the value of
  that environment variable. Any other ``$`` is kept as it is; a ``${`` that does not open a valid
  template is an error rather than a silent literal.

:func:`resolve_headers` reads the variables once, when a delivery starts: a variable that is
missing (or empty) raises :class:`~clvmodels.export.ExportError` naming the *variable* (never a
value) before anything is sent. It returns a :class:`ResolvedHeaders`, a plain ``dict`` for the
HTTP client whose ``repr`` shows ``'<redacted: $VAR>'`` instead of the values and which carries the
set of secret strings in ``.secrets``.

:func:`redact` removes those strings (also in their JSON-escaped and percent-encoded spellings)
from any text the export layer writes or raises: receiver answers quoted in a
:class:`~clvmodels.export.DeliveryError`, transport error messages. :func:`safe_url` strips
``user:password@`` and the query string from a URL before it is written to a ledger or receipt,
and :func:`url_secrets` lists what it removed, so that those are redacted too.

What counts as secret: every value that came from the environment, and literal values of headers
whose name suggests a credential (``Authorization``, ``Proxy-Authorization``, ``Cookie``, or a name
containing ``key``, ``token``, ``secret``, ``password``, ``auth``, ``session`` or ``signature``):
literals still work (backwards compatible) but are treated as secrets all the same.
"""

from __future__ import annotations

import base64
import json
import os
import re
import urllib.parse
from collections.abc import Iterable, Mapping
from typing import Any

from ..errors import ConfigError
from .errors import ExportError

__all__ = ["REDACTED", "ResolvedHeaders", "redact", "resolve_headers", "safe_url", "url_secrets", "env_references",
           "expand_env", "redact_url"]

REDACTED = "***"
_TEMPLATE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
_HEADER_NAME = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")   # RFC 9110 token
_SENSITIVE_NAME = re.compile(r"authorization|cookie|key|token|secret|password|auth|session|signature",
                             re.IGNORECASE)
_MIN_QUERY_SECRET = 4   # query values shorter than this are not worth redacting (e.g. "1", "csv")


class ResolvedHeaders(dict):
    """Header values ready to send; ``repr`` hides the secret ones.

    A ``dict`` subclass (pass it to any HTTP client). ``secrets`` is the frozenset of strings that
    must never be written anywhere (see :func:`redact`); ``sources`` maps each header to
    ``"env"`` (built from environment variables), ``"literal-secret"`` (a credential-like header
    given as a literal) or ``"literal"``.

    Examples
    --------
    >>> h = resolve_headers({"Authorization": "Bearer ${TOKEN}", "X-Trace": "abc"},
    ...                     environ={"TOKEN": "s3cr3t-value"})
    >>> h
    ResolvedHeaders({'Authorization': '<redacted: $TOKEN>', 'X-Trace': 'abc'})
    >>> h["Authorization"]
    'Bearer s3cr3t-value'
    >>> sorted(h.secrets)
    ['s3cr3t-value']
    """

    def __init__(self, values: Mapping[str, str] | None = None, *, secrets: Iterable[str] = (),
                 sources: Mapping[str, str] | None = None, labels: Mapping[str, str] | None = None):
        super().__init__(values or {})
        self.secrets: frozenset[str] = frozenset(s for s in secrets if s)
        self.sources: dict[str, str] = dict(sources or {})
        self._labels: dict[str, str] = dict(labels or {})

    def __repr__(self) -> str:
        shown = {k: (f"<redacted: {self._labels[k]}>" if k in self._labels else v) for k, v in self.items()}
        return f"ResolvedHeaders({shown!r})"

    __str__ = __repr__

    def __reduce__(self):  # pickling keeps the class (and therefore the redacting repr)
        return (type(self), (dict(self),), {"secrets": self.secrets, "sources": self.sources,
                                            "_labels": self._labels})


def resolve_headers(headers: Mapping[str, str] | None = None, auth: Mapping[str, Any] | None = None, *,
                    environ: Mapping[str, str] | None = None) -> ResolvedHeaders:
    """Build the headers to send from ``headers`` (with ``${VAR}`` templates) and ``auth``.

    Parameters
    ----------
    headers : mapping of header name to value; ``${NAME}`` in a value is replaced by the
        environment variable ``NAME``
    auth : ``{"type": "bearer", "token_env": "VAR"}`` adds ``Authorization: Bearer <$VAR>``
        (``headers`` must not also set ``Authorization``); None for no auth
    environ : where variables are read (default ``os.environ``, read at call time)

    Returns
    -------
    ResolvedHeaders
        the values to send; its ``repr`` redacts secrets and ``.secrets`` lists them for
        :func:`redact`

    Raises
    ------
    ExportError
        a variable is not set or is empty, or a resolved value holds a line break or other
        control character; the message names the variable and the header, never a value
    ValueError
        malformed ``headers`` or ``auth`` (unknown auth type or keys, a token given inline,
        a bad header name, a ``${`` that does not open a valid template)

    Examples
    --------
    >>> import os
    >>> os.environ["CLV_DOC_TOKEN"] = "tok-123456"
    >>> h = resolve_headers({"X-Api-Key": "${CLV_DOC_TOKEN}"},
    ...                     auth={"type": "bearer", "token_env": "CLV_DOC_TOKEN"})
    >>> h["Authorization"], h["X-Api-Key"]
    ('Bearer tok-123456', 'tok-123456')
    >>> h
    ResolvedHeaders({'X-Api-Key': '<redacted: $CLV_DOC_TOKEN>', 'Authorization': '<redacted: $CLV_DOC_TOKEN>'})
    >>> del os.environ["CLV_DOC_TOKEN"]
    >>> resolve_headers({"X-Api-Key": "${CLV_DOC_TOKEN}"})
    Traceback (most recent call last):
    ...
    clvmodels.export.errors.ExportError: environment variable 'CLV_DOC_TOKEN' (used by header 'X-Api-Key') is not set; ...
    """
    env = os.environ if environ is None else environ
    values: dict[str, str] = {}
    secrets: set[str] = set()
    sources: dict[str, str] = {}
    labels: dict[str, str] = {}
    if headers is not None and not isinstance(headers, Mapping):
        raise ValueError(f"headers must be a mapping of header name to value, got {type(headers).__name__}")
    for name, template in (headers or {}).items():
        if not isinstance(name, str) or not _HEADER_NAME.match(name):
            raise ValueError(f"not a valid HTTP header name: {name!r}")
        if not isinstance(template, str):
            raise TypeError(f"header {name!r}: the value must be text, got {type(template).__name__}")
        used = _template_names(name, template)
        if used:
            value = _TEMPLATE.sub(lambda m, h=name: _lookup(env, m.group(1), h), template)
            secrets.update(_lookup(env, var, name) for var in used)
            sources[name] = "env"
            labels[name] = ", ".join(f"${v}" for v in dict.fromkeys(used))
        else:
            value = template
            if _SENSITIVE_NAME.search(name):
                secrets.update(_literal_secrets(value))
                sources[name] = "literal-secret"
                labels[name] = "literal"
            else:
                sources[name] = "literal"
        _check_value(name, value, used)
        values[name] = value
    if auth is not None:
        token_var = _check_auth(auth)
        if any(k.lower() == "authorization" for k in values):
            raise ValueError("set Authorization either in headers or through auth, not both")
        token = _lookup(env, token_var, "Authorization")
        _check_value("Authorization", token, [token_var])
        values["Authorization"] = f"Bearer {token}"
        secrets.add(token)
        sources["Authorization"] = "env"
        labels["Authorization"] = f"${token_var}"
    return ResolvedHeaders(values, secrets=secrets, sources=sources, labels=labels)


def _template_names(header: str, template: str) -> list[str]:
    names = _TEMPLATE.findall(template)
    if template.count("${") != len(names):
        raise ValueError(f"header {header!r}: '${{' must open a template ${{NAME}} (NAME: letters, digits "
                         f"and _, not starting with a digit)")
    return names


def _lookup(env: Mapping[str, str], var: str, header: str) -> str:
    value = env.get(var)
    if value is None:
        raise ExportError(f"environment variable {var!r} (used by header {header!r}) is not set; set it in "
                          f"the environment of the delivery (its value is never written anywhere)")
    if value == "":
        raise ExportError(f"environment variable {var!r} (used by header {header!r}) is set but empty")
    return value


def _check_value(name: str, value: str, variables: list[str]) -> None:
    if any(ord(c) < 32 and c != "\t" or ord(c) == 127 for c in value):
        where = f"environment variable {', '.join(repr(v) for v in variables)}" if variables else "the value"
        raise ExportError(f"header {name!r}: {where} holds a line break or another control character, "
                          f"which cannot be sent in an HTTP header")


def _check_auth(auth: Mapping[str, Any]) -> str:
    if not isinstance(auth, Mapping):
        raise TypeError(f"auth must be a mapping such as {{'type': 'bearer', 'token_env': 'CRM_TOKEN'}}, "
                         f"got {type(auth).__name__}")
    if auth.get("type") != "bearer":
        raise ValueError(f"auth type must be 'bearer' (others: use headers with ${{VAR}} templates), "
                         f"got {auth.get('type')!r}")
    if "token" in auth:
        raise ValueError("auth takes token_env, the NAME of an environment variable holding the token, "
                         "never the token itself")
    extra = sorted(set(auth) - {"type", "token_env"})
    if extra:
        raise ValueError(f"unknown auth keys {extra}; bearer auth takes only type and token_env")
    var = auth.get("token_env")
    if not isinstance(var, str) or not re.match(r"^[A-Za-z_][A-Za-z0-9_]*$", var):
        raise ValueError(f"auth token_env must name an environment variable, got {var!r}")
    return var


def _literal_secrets(value: str) -> set[str]:
    """The whole value, and the parts a receiver might quote alone: the credential after a scheme
    ("Bearer xyz") and the values of ``name=value`` pairs ("session=abc; theme=x")."""
    out = {value}
    scheme, _, credential = value.partition(" ")
    if credential and scheme.isalpha():
        out.add(credential.strip())
    for pair in re.split(r"[;,]\s*", value):
        part = pair.partition("=")[2].strip()
        if len(part) >= _MIN_QUERY_SECRET:
            out.add(part)
    return out


def redact(text: str, secrets: Iterable[str]) -> str:
    """Replace every occurrence of each secret in ``text`` by ``***``.

    Also replaces the JSON-escaped and percent-encoded spellings of each secret (a receiver that
    echoes a request back may quote it either way). Longer secrets are replaced first, so a secret
    that contains another is removed whole.

    Examples
    --------
    >>> redact('401: bad token "tok-123456" (sent as Bearer tok-123456)', {"tok-123456"})
    '401: bad token "***" (sent as Bearer ***)'
    >>> redact("nothing to hide", set())
    'nothing to hide'
    """
    variants: set[str] = set()
    for s in secrets:
        if not s:
            continue
        variants.add(s)
        variants.add(json.dumps(s)[1:-1])
        variants.add(urllib.parse.quote(s, safe=""))
        variants.add(urllib.parse.quote_plus(s))
    for v in sorted(variants, key=len, reverse=True):
        if v:
            text = text.replace(v, REDACTED)
    return text


def safe_url(url: str) -> str:
    """``url`` without ``user:password@``, query string and fragment: safe to write down.

    Raises :class:`ValueError` unless ``url`` is an absolute ``http://`` or ``https://`` URL.

    Examples
    --------
    >>> safe_url("https://bot:pa55@crm.example.com:8443/api/scores?api_key=abcd1234#x")
    'https://crm.example.com:8443/api/scores'
    """
    import httpx

    try:
        parsed = httpx.URL(url)
    except (httpx.InvalidURL, TypeError) as exc:
        raise ValueError(f"not a valid URL: {redact(str(exc), url_secrets(url))}") from None
    if parsed.scheme not in ("http", "https") or not parsed.host:
        raise ValueError("url must be an absolute http:// or https:// URL")
    port = f":{parsed.port}" if parsed.port else ""
    host = f"[{parsed.host}]" if ":" in parsed.host else parsed.host
    return f"{parsed.scheme}://{host}{port}{parsed.path}"


def url_secrets(url: str) -> frozenset[str]:
    """The strings :func:`safe_url` removes that may be credentials: the user name and password
    (decoded and as written, and as the ``Basic`` credential a client derives from them) and the
    query values of at least 4 characters.

    Examples
    --------
    >>> sorted(url_secrets("https://bot:pa55@crm.example.com/x?api_key=abcd1234&v=1"))
    ['Ym90OnBhNTU=', 'abcd1234', 'bot', 'pa55']
    """
    try:
        parts = urllib.parse.urlsplit(url)
    except (ValueError, TypeError, AttributeError):
        return frozenset()
    out: set[str] = set()
    for raw in (parts.username, parts.password):
        if raw:
            out.update({raw, urllib.parse.unquote(raw)})
    if parts.username or parts.password:  # HTTP clients send user:password as a Basic credential
        user, password = (urllib.parse.unquote(p or "") for p in (parts.username, parts.password))
        out.add(base64.b64encode(f"{user}:{password}".encode()).decode("ascii"))
    for _, value in urllib.parse.parse_qsl(parts.query, keep_blank_values=False):
        if len(value) >= _MIN_QUERY_SECRET:
            out.add(value)
    for raw in parts.query.split("&"):
        value = raw.partition("=")[2]
        if len(value) >= _MIN_QUERY_SECRET:
            out.add(value)
    return frozenset(out)


# ----------------------------------------------------------------------------------------------
# ${VAR} references in configs, and URLs written down without their credentials


def env_references(text: str) -> list[str]:
    """Names of the environment variables a text refers to as ``${VAR}``.

    Examples
    --------
    >>> env_references("https://api.example.com/v1?key=${CRM_KEY}&user=${CRM_USER}")
    ['CRM_KEY', 'CRM_USER']
    """
    return _TEMPLATE.findall(text or "")


def expand_env(text: str, key: str) -> str:
    """``text`` with every ``${VAR}`` replaced by the variable's value (a ConfigError names an unset
    variable and ``key``, never a value).

    Examples
    --------
    >>> import os
    >>> os.environ["CRM_USER"] = "analytics"
    >>> expand_env("https://${CRM_USER}@crm.example.com/api", "export.0.url")
    'https://analytics@crm.example.com/api'
    """
    def value(match):
        name = match.group(1)
        if name not in os.environ:
            raise ConfigError(f"{key} names the environment variable ${{{name}}}, which is not set", key=key)
        return os.environ[name]
    return _TEMPLATE.sub(value, text)


def redact_url(url: str) -> str:
    """``url`` without inline credentials: a password (``user:password@``) and query values become
    ``***``; ``${VAR}`` references are kept (they are not secrets, the variables are).

    Examples
    --------
    >>> redact_url("postgresql+psycopg://me:s3cret@db:5432/crm?sslmode=require")
    'postgresql+psycopg://me:***@db:5432/crm?sslmode=***'
    >>> redact_url("https://api.example.com/scores?token=${CRM_TOKEN}")
    'https://api.example.com/scores?token=${CRM_TOKEN}'
    """
    from urllib.parse import parse_qsl, urlencode, urlsplit

    parts = urlsplit(url)
    out = url
    if "@" in parts.netloc:
        userinfo, _, host = parts.netloc.rpartition("@")
        user, has_password, password = userinfo.partition(":")
        if has_password and not _TEMPLATE.fullmatch(password):
            out = out.replace(parts.netloc, f"{user}:***@{host}", 1)
    if parts.query:
        pairs = [(k, v if _TEMPLATE.fullmatch(v) else "***") for k, v in parse_qsl(parts.query, keep_blank_values=True)]
        out = out.replace("?" + parts.query, "?" + urlencode(pairs, safe="*${}"), 1)
    return out
