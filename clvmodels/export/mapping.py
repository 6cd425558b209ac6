"""Field mapping: the CRM's names, types, rounding and allowed values for the delivered fields.

A run's canonical export table (:mod:`clvmodels.export.schema`, plus the run metadata ``run_id``,
``as_of``, ``scored_at`` and ``model_version``) is what the run folder keeps; each delivery may map
it to what its CRM expects. A mapping is ``{source column: spec}`` where ``spec`` is the CRM field
name, or a dict with

* ``name`` - the CRM field name (default: the source name);
* ``type`` - ``float``, ``int``, ``text``, ``bool`` or ``date`` (ISO ``YYYY-MM-DD`` text);
  default: the column's own kind;
* ``round`` - decimals for floats (``round: 2`` for money);
* ``allowed`` - the values a text field may take (e.g. the tiers a picklist accepts).

Only mapped columns are delivered, in the mapping's order (``customer_id`` is always the key).
Everything is checked before anything is sent: a mapped column that does not exist, two sources
mapped to one name, a value outside ``allowed`` or one that does not convert raises a typed error
that names the field (and the customers at fault).

Examples
--------
>>> import pandas as pd
>>> table = pd.DataFrame({"clv": [12.345, 3.0], "tier": ["VIP", "low"]},
...                      index=pd.Index(["007", "012"], name="customer_id"))
>>> fields = parse_fields({"clv": {"name": "CLV_12m__c", "round": 1}, "tier": "Tier__c"})
>>> map_table(table, fields).to_dict(orient="index")
{'007': {'CLV_12m__c': 12.3, 'Tier__c': 'VIP'}, '012': {'CLV_12m__c': 3.0, 'Tier__c': 'low'}}
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..errors import ConfigError, InvalidValueError, MissingColumnError, describe_culprits

__all__ = ["FieldSpec", "parse_fields", "map_table", "FIELD_TYPES", "RUN_METADATA"]

FIELD_TYPES = ("float", "int", "text", "bool", "date")
#: the run metadata every canonical export table carries (besides the CRM schema's fields)
RUN_METADATA = ("run_id", "as_of", "scored_at", "model_version")
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")


@dataclass(frozen=True)
class FieldSpec:
    """One mapped field (see the module docstring).

    Examples
    --------
    >>> FieldSpec("clv", "CLV__c", "float", 2, None).name
    'CLV__c'
    """

    source: str
    name: str
    type: str | None = None
    round: int | None = None
    allowed: tuple | None = None


def parse_fields(fields: Mapping | None, key: str = "fields") -> tuple[FieldSpec, ...] | None:
    """Validate a mapping ``{source: name | {name, type, round, allowed}}``; None stays None.

    A bad entry raises :class:`ConfigError` naming ``<key>.<source>``.

    Examples
    --------
    >>> [f.name for f in parse_fields({"clv": "clv_value", "tier": {"allowed": ["VIP", "core"]}})]
    ['clv_value', 'tier']
    """
    if fields is None:
        return None
    if not isinstance(fields, Mapping) or not fields:
        raise ConfigError(f"{key} must be a non-empty mapping of source column -> CRM field", key=key)
    out, seen = [], {}
    for source, spec in fields.items():
        where = f"{key}.{source}"
        if isinstance(spec, str):
            spec = {"name": spec}
        elif spec is None:
            spec = {}
        if not isinstance(spec, Mapping):
            raise ConfigError(f"{where} must be a field name or a mapping with name / type / round / allowed",
                              key=where)
        unknown = sorted(set(spec) - {"name", "type", "round", "allowed"})
        if unknown:
            raise ConfigError(f"{where} has unknown key(s) {unknown}; use name, type, round, allowed", key=where)
        name = spec.get("name", source)
        if not isinstance(name, str) or not _NAME.match(name) or name == "customer_id":
            raise ConfigError(f"{where}.name={name!r} is not a usable field name (letters, digits and _, starting "
                              "with a letter or _, at most 63 characters; not customer_id)", key=where)
        if name in seen:
            raise ConfigError(f"{where}: field name {name!r} is also the name of {seen[name]!r}", key=where)
        seen[name] = source
        ftype = spec.get("type")
        if ftype is not None and ftype not in FIELD_TYPES:
            raise ConfigError(f"{where}.type={ftype!r}; use one of {list(FIELD_TYPES)}", key=where)
        digits = spec.get("round")
        if digits is not None and (isinstance(digits, bool) or not isinstance(digits, int) or not 0 <= digits <= 12):
            raise ConfigError(f"{where}.round={digits!r} must be a whole number of decimals in [0, 12]", key=where)
        allowed = spec.get("allowed")
        if allowed is not None:
            if isinstance(allowed, str) or not isinstance(allowed, (list, tuple)) or not allowed:
                raise ConfigError(f"{where}.allowed must be a non-empty list of values", key=where)
            allowed = tuple(allowed)
        out.append(FieldSpec(str(source), name, ftype, digits, allowed))
    return tuple(out)


def _convert(values: pd.Series, spec: FieldSpec, ids: pd.Index) -> pd.Series:
    kind = spec.type
    try:
        if kind == "float":
            out = pd.to_numeric(values, errors="raise").astype(np.float64)
        elif kind == "int":
            numeric = pd.to_numeric(values, errors="raise")
            if not np.all(np.equal(np.mod(numeric.to_numpy(dtype=np.float64), 1), 0)):
                bad = np.mod(numeric.to_numpy(dtype=np.float64), 1) != 0
                raise InvalidValueError(f"field {spec.source!r} -> {spec.name!r} (type int): {int(bad.sum())} value(s) "
                                        f"are not whole numbers, e.g. customers {describe_culprits(ids[bad])}",
                                        column=spec.source, n_rows=int(bad.sum()), examples=list(ids[bad][:5]))
            out = numeric.astype(np.int64)
        elif kind == "text":
            out = values.astype(str)
        elif kind == "bool":
            out = values.astype(bool)
        elif kind == "date":
            out = pd.to_datetime(values).dt.strftime("%Y-%m-%d")
        else:
            out = values
    except (TypeError, ValueError) as exc:
        if isinstance(exc, InvalidValueError):
            raise
        raise InvalidValueError(f"field {spec.source!r} -> {spec.name!r}: the values do not convert to "
                                f"{kind}: {exc}", column=spec.source) from None
    if spec.round is not None:
        if not pd.api.types.is_float_dtype(out.dtype):
            raise InvalidValueError(f"field {spec.source!r} -> {spec.name!r}: round applies to numbers, the column "
                                    f"holds {out.dtype}", column=spec.source)
        out = out.round(spec.round)
    if spec.allowed is not None:
        bad = ~out.isin(spec.allowed).to_numpy()
        if bad.any():
            values_seen = sorted(map(str, pd.unique(out[bad])))[:5]
            raise InvalidValueError(f"field {spec.source!r} -> {spec.name!r}: {int(bad.sum())} value(s) outside the "
                                    f"allowed {list(spec.allowed)}: {values_seen}, e.g. customers "
                                    f"{describe_culprits(ids[bad])}", column=spec.source, n_rows=int(bad.sum()),
                                    examples=list(ids[bad][:5]))
    return out


def map_table(table: pd.DataFrame, fields: tuple[FieldSpec, ...] | None) -> pd.DataFrame:
    """The table as the CRM receives it: mapped, converted, rounded and checked (a new frame).

    ``fields`` None delivers the table as it is.

    Examples
    --------
    >>> import pandas as pd
    >>> t = pd.DataFrame({"tier": ["VIP", "gold"]}, index=pd.Index([1, 2], name="customer_id"))
    >>> map_table(t, parse_fields({"tier": {"allowed": ["VIP", "core"]}}))
    Traceback (most recent call last):
    ...
    clvmodels.errors.InvalidValueError: field 'tier' -> 'tier': 1 value(s) outside the allowed ['VIP', 'core']: ['gold'], e.g. customers [2]
    """
    if fields is None:
        return table.copy()
    missing = [f.source for f in fields if f.source not in table.columns]
    if missing:
        raise MissingColumnError(f"mapped field(s) {missing} do not exist in the export table; it has "
                                 f"{list(map(str, table.columns))}", column=missing[0])
    out = pd.DataFrame(index=table.index)
    for spec in fields:
        out[spec.name] = _convert(table[spec.source], spec, table.index).to_numpy()
    return out
