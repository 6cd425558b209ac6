"""Numbers shown in the report: one value, one format, one key.

Every number the page shows is a :class:`Num`: its raw value (exactly as read from the run
folder: metrics.json, the manifest, the scores), a format kind and the text made from them.
The template writes each as ``<span data-key=... data-format=... data-value=...>text</span>``
and the same raw values go into the page's JSON block, so what a reader sees and what a test
compares are made from the same value.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from numbers import Real


def _finite(v) -> bool:
    return v is not None and isinstance(v, Real) and not isinstance(v, bool) and math.isfinite(float(v))


#: format kind -> function of a finite number; everything not finite is shown as "n/a"
FORMATS = {
    "int": lambda v: f"{round(v):,}",                 # counts (round: a whole number, half to even)
    "dec1": lambda v: f"{v:,.1f}",
    "dec2": lambda v: f"{v:,.2f}",
    "dec3": lambda v: f"{v:,.3f}",                     # MAE, RMSE, correlation
    "sig4": lambda v: f"{v:.4g}",                      # model parameters
    "pct1": lambda v: f"{100 * v:.1f}%",               # a fraction shown as a percentage
    "pp1": lambda v: f"{v:+.1f}%",                     # already a percentage (e.g. aggregate error), signed
    "money0": lambda v: f"{v:,.0f}",
    "money2": lambda v: f"{v:,.2f}",
}

NOT_AVAILABLE = "n/a"


def format_number(value, kind: str) -> str:
    """The text of ``value`` in format ``kind`` ("n/a" for None, NaN and infinities)."""
    if not _finite(value):
        return NOT_AVAILABLE
    return FORMATS[kind](value)


def plain(value):
    """A JSON-ready Python number (numpy scalars unwrapped; NaN / inf -> None)."""
    if value is None or isinstance(value, bool):
        return value
    if hasattr(value, "item"):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, (int, float)):
        return value
    return None


@dataclass(frozen=True)
class Num:
    """One shown number: ``key`` (dotted, unique in the page), raw ``value``, format ``kind``."""

    key: str
    value: int | float | None
    kind: str

    @property
    def text(self) -> str:
        return format_number(self.value, self.kind)

    @property
    def raw(self) -> str:
        """``data-value``: ``repr`` of the value (round-trips a float exactly), empty when missing."""
        return "" if self.value is None else repr(self.value)


class Numbers:
    """The registry of the page's numbers (``key -> value``), written into its JSON block."""

    def __init__(self) -> None:
        self.values: dict[str, int | float | None] = {}
        self.kinds: dict[str, str] = {}

    def __call__(self, key: str, value, kind: str) -> Num:
        if kind not in FORMATS:
            raise ValueError(f"unknown number format {kind!r}")
        v = plain(value)
        if key in self.values and (self.values[key] != v or self.kinds[key] != kind):
            raise ValueError(f"report number {key!r} registered twice with different values")
        self.values[key] = v
        self.kinds[key] = kind
        return Num(key, v, kind)
