"""Credentials in URLs and headers: ``${VAR}`` references to the environment, and redaction.

Users never need to write a secret into a config: a URL or a header value may name environment
variables as ``${VAR}``, filled in only when a delivery is made (:func:`expand_env`). Whatever is
written down - a run folder's config, receipts, ledgers, error messages - goes through
:func:`redact_url`, so inline credentials (``user:password@``, query values) never appear.
"""

from __future__ import annotations

import os
import re

from ..errors import ConfigError

__all__ = ["env_references", "expand_env", "redact_url"]

_ENV_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


def env_references(text: str) -> list[str]:
    """Names of the environment variables a text refers to as ``${VAR}``.

    Examples
    --------
    >>> env_references("https://api.example.com/v1?key=${CRM_KEY}&user=${CRM_USER}")
    ['CRM_KEY', 'CRM_USER']
    """
    return _ENV_REF.findall(text or "")


def expand_env(text: str, key: str) -> str:
    """``text`` with every ``${VAR}`` replaced by the variable's value (a ConfigError names an unset
    variable and ``key``, never a value)."""
    def value(match):
        name = match.group(1)
        if name not in os.environ:
            raise ConfigError(f"{key} names the environment variable ${{{name}}}, which is not set", key=key)
        return os.environ[name]
    return _ENV_REF.sub(value, text)


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
        if has_password and not _ENV_REF.fullmatch(password):
            out = out.replace(parts.netloc, f"{user}:***@{host}", 1)
    if parts.query:
        pairs = [(k, v if _ENV_REF.fullmatch(v) else "***") for k, v in parse_qsl(parts.query, keep_blank_values=True)]
        out = out.replace("?" + parts.query, "?" + urlencode(pairs, safe="*${}"), 1)
    return out
