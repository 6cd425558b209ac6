"""Issue 16 (hardening), the data layer: both engines agree on every accepted input, or both refuse it
with a typed error naming the column (and the customers, or the line of a file).

Each case runs on the pandas engine, on DuckDB with the same frame and, where a file can hold the input,
on DuckDB with a CSV or Parquet path.
"""

from __future__ import annotations

import pandas as pd
import pytest

import clvmodels as clv
from clvmodels.data.transactions import check_date_format, format_without_offset
from clvmodels.errors import ConfigError

# -- date_format ---------------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["%Y-%m-%d %H:%M %Z", "%Y-%m-%d %H:%M:%S%Z", "%d/%m/%Y%Z"])
def test_date_format_with_a_trailing_zone_name_is_refused(fmt):
    # '%Z' (a zone name) used to pass: its 'Z' was taken for the literal 'Z' of '...%SZ'
    with pytest.raises(ConfigError, match="%Z") as err:
        check_date_format(fmt)
    assert err.value.key == "date_format"
    with pytest.raises(ConfigError, match="date_format"):
        clv.rfm_summary(pd.DataFrame({"customer_id": [1], "date": ["2024-01-01"], "amount": [1.0]}), date_format=fmt)


@pytest.mark.parametrize("fmt,rest", [("%Y-%m-%dT%H:%M:%SZ", "%Y-%m-%dT%H:%M:%S"),
                                      ("%d/%m/%Y %H:%M %z", "%d/%m/%Y %H:%M"),
                                      ("%Y%m%d%%Z", "%Y%m%d%%"), ("%Y%m%d%%z", "%Y%m%d%%z")])
def test_only_a_trailing_offset_or_literal_z_is_cut_from_the_format(fmt, rest):
    assert format_without_offset(fmt) == rest
    if "%%z" in fmt:  # a literal '%' then 'z': no offset, and not a %z before the end either
        check_date_format(fmt)
