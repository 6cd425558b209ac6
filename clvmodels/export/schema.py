"""The CRM schema: the per-customer fields a run delivers, declared once.

Every delivery of a run (file drop, SQL table, HTTP endpoint) carries :data:`CRM_COLUMNS` that the
scores hold, in this order, keyed by ``customer_id``: value (CLV and its interval, expected
revenue and margin), risk (P(alive), churn), segment (value tier and rank, RFM scores) and the
customer's RFM summary the scores were computed from (frequency, recency, T, monetary value). The
pipeline builds the table with :func:`crm_table`, keeps it in the run folder as the canonical
export table (Parquet, with its checksum), and ``clv export`` re-sends exactly that table.

Examples
--------
>>> [c.name for c in CRM_COLUMNS][:3]
['p_alive', 'churn_probability', 'p_alive_at_horizon']
>>> required_columns()[-3:]
('frequency', 'recency', 'T')
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from ..errors import MissingColumnError

__all__ = ["CRMColumn", "CRM_COLUMNS", "crm_table", "required_columns"]


@dataclass(frozen=True)
class CRMColumn:
    """One delivered field: name, kind (``float`` / ``int`` / ``text``), meaning, and whether every
    run has it (optional ones depend on the run: an interval, amounts in the log).

    Examples
    --------
    >>> CRM_COLUMNS[8]
    CRMColumn(name='clv', kind='float', description='discounted contribution margin within the horizon (customer lifetime value)', required=True)
    """

    name: str
    kind: str
    description: str
    required: bool = True


CRM_COLUMNS: tuple[CRMColumn, ...] = (
    CRMColumn("p_alive", "float", "probability the customer is alive (active) now"),
    CRMColumn("churn_probability", "float", "probability the customer is no longer alive at the end of the horizon"),
    CRMColumn("p_alive_at_horizon", "float", "probability the customer is alive at the end of the horizon"),
    CRMColumn("p_no_purchase_in_horizon", "float", "probability of no purchase within the horizon"),
    CRMColumn("expected_purchases", "float", "expected purchases within the horizon"),
    CRMColumn("expected_spend", "float", "expected spend per purchase"),
    CRMColumn("expected_revenue", "float", "expected revenue within the horizon (undiscounted)"),
    CRMColumn("expected_margin", "float", "expected contribution margin within the horizon (undiscounted)"),
    CRMColumn("clv", "float", "discounted contribution margin within the horizon (customer lifetime value)"),
    CRMColumn("clv_lower", "float", "lower end of the interval of the expected CLV", required=False),
    CRMColumn("clv_upper", "float", "upper end of the interval of the expected CLV", required=False),
    CRMColumn("tier", "text", "value tier: VIP, core, low or margin-negative"),
    CRMColumn("value_rank", "int", "rank by CLV (1 = most valuable)"),
    CRMColumn("r_score", "int", "recency score (1 worst .. 5 best)"),
    CRMColumn("f_score", "int", "frequency score (1 worst .. 5 best)"),
    CRMColumn("m_score", "int", "monetary score (1 worst .. 5 best; logs with amounts)", required=False),
    CRMColumn("rfm_cell", "text", "the three scores as one code, e.g. '545'", required=False),
    CRMColumn("rfm_total", "int", "sum of the RFM scores"),
    CRMColumn("frequency", "float", "repeat purchases in the scored window (the summary's frequency)"),
    CRMColumn("recency", "float", "time from first to last purchase, in the run's time unit"),
    CRMColumn("T", "float", "time from first purchase to the as-of date, in the run's time unit"),
    CRMColumn("monetary_value", "float", "average value of the repeat purchases (logs with amounts)",
              required=False),
)


def required_columns() -> tuple[str, ...]:
    """Names of the fields every delivery has.

    Examples
    --------
    >>> "clv" in required_columns(), "clv_lower" in required_columns()   # the interval is optional
    (True, False)
    """
    return tuple(c.name for c in CRM_COLUMNS if c.required)


def crm_table(scores: pd.DataFrame) -> pd.DataFrame:
    """The CRM fields of ``scores`` (index ``customer_id``), in the schema's order.

    A required field missing from ``scores`` is a :class:`~clvmodels.errors.MissingColumnError`
    naming it: a delivery never silently lacks a field. Text fields are plain strings.

    Examples
    --------
    >>> import pandas as pd
    >>> scores = pd.DataFrame({name: [0.5] for name in required_columns()}, index=pd.Index([7], name="customer_id"))
    >>> scores["tier"] = "VIP"
    >>> list(crm_table(scores.assign(extra=1.0)).columns) == list(required_columns())   # extra columns stay out
    True
    """
    missing = [name for name in required_columns() if name not in scores.columns]
    if missing:
        raise MissingColumnError(f"the scores lack the CRM field(s) {missing} (clvmodels.export.schema); they have "
                                 f"{list(map(str, scores.columns))}", column=missing[0])
    out = scores[[c.name for c in CRM_COLUMNS if c.name in scores.columns]].copy()
    for c in CRM_COLUMNS:
        if c.kind == "text" and c.name in out.columns:
            out[c.name] = out[c.name].astype(str)
    out.index = out.index.rename("customer_id")
    return out
