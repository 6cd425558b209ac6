"""The contracts between the layers: the model protocol, the registry, the typed summary, and the
rule that no package of clvmodels reads another package's private names."""

from __future__ import annotations

import ast
import importlib
import pathlib
import types

import numpy as np
import pandas as pd
import pytest
from scipy import optimize, special

import clvmodels as clv
from clvmodels import registry
from clvmodels.errors import ConfigError
from clvmodels.protocols import ParameterDraws, PurchaseModel, SpendModel

PACKAGE = pathlib.Path(clv.__file__).parent


# --------------------------------------------------------------------------------------------
# no package reads another package's private names
# --------------------------------------------------------------------------------------------
def _package_of(module: str) -> str:
    """clvmodels.<sub>[...] -> clvmodels.<sub> (a top-level module is its own package)."""
    parts = module.split(".")
    return ".".join(parts[:2])


def _module_name(path: pathlib.Path) -> str:
    rel = path.relative_to(PACKAGE.parent).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def _resolve(module: str, is_package: bool, level: int, target: str | None) -> str:
    if level == 0:
        return target or ""
    base = module.split(".") if is_package else module.split(".")[:-1]
    base = base[: len(base) - (level - 1)]
    return ".".join(base + ([target] if target else []))


def private_name_reads(path: pathlib.Path) -> list[str]:
    """Reads of another package's private names in one module: ``from <other>._mod import x``,
    ``from <other> import _x``, ``X._y`` with X imported from another package, ``a.b._c``
    (a private attribute of an object that is not self / cls) and ``getattr(obj, "_x")``."""
    module = _module_name(path)
    is_package = path.name == "__init__.py"
    mine = _package_of(module)
    tree = ast.parse(path.read_text())
    foreign: set[str] = set()     # names bound to things of other clvmodels packages
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            target = _resolve(module, is_package, node.level, node.module)
            if not target.startswith("clvmodels"):
                continue
            other = _package_of(target) != mine
            for alias in node.names:
                full = f"{target}.{alias.name}"
                private_module = any(p.startswith("_") and not p.startswith("__") for p in target.split(".")[2:])
                private_name = alias.name.startswith("_") and not alias.name.startswith("__")
                if other and (private_name or private_module):
                    found.append(f"{path.name}:{node.lineno}: from {target} import {alias.name}")
                if other or _package_of(full) != mine:
                    foreign.add(alias.asname or alias.name)
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.startswith("clvmodels") and _package_of(alias.name) != mine:
                    foreign.add((alias.asname or alias.name).split(".")[0])
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and node.attr.startswith("_") and not node.attr.startswith("__"):
            value = node.value
            if isinstance(value, ast.Name) and value.id in foreign:
                found.append(f"{path.name}:{node.lineno}: {value.id}.{node.attr}")
            elif isinstance(value, ast.Attribute) and not (isinstance(value.value, ast.Name)
                                                          and value.value.id in ("np", "pd")):
                found.append(f"{path.name}:{node.lineno}: ....{value.attr}.{node.attr}")
        elif (isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in ("getattr", "hasattr")
              and len(node.args) >= 2 and isinstance(node.args[1], ast.Constant)
              and isinstance(node.args[1].value, str) and node.args[1].value.startswith("_")
              and not node.args[1].value.startswith("__")
              and not (isinstance(node.args[0], ast.Name) and node.args[0].id in ("self", "cls"))):
            found.append(f"{path.name}:{node.lineno}: getattr(..., {node.args[1].value!r})")
    return found


def test_no_module_reads_a_private_name_of_another_package():
    found = [hit for path in sorted(PACKAGE.rglob("*.py")) for hit in private_name_reads(path)]
    assert found == [], "\n".join(found)


def test_the_private_name_check_catches_each_kind(tmp_path):
    # the checker itself must fail on each kind of read (else the test above proves nothing)
    bad = PACKAGE / "evaluate" / "_contract_probe.py"
    bad.write_text("from ..forecast._sources import PurchaseSource\nfrom ..models.base import _one_blas_thread\n"
                   "from ..models import base\n\ndef f(model, self=None):\n    base._ADVICE\n"
                   "    model.inner._x\n    getattr(model, '_draws')\n    self._fine\n")
    try:
        hits = private_name_reads(bad)
    finally:
        bad.unlink()
    assert len(hits) == 5, hits


# --------------------------------------------------------------------------------------------
# the public names (regression, contracts issue bug 4: two of fifteen lazy names were broken)
# --------------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", sorted(set(clv.__all__) - {"__version__"}))
def test_every_public_name_resolves(name):
    value = getattr(clv, name)
    assert value is not None
    if isinstance(value, types.ModuleType):
        for sub in getattr(value, "__all__", []):
            assert getattr(value, sub) is not None, f"clvmodels.{name}.{sub}"


def test_validate_transactions_and_rfm_summary_type():
    tx = clv.datasets.cdnow_transactions(sample=True)
    info = clv.validate_transactions(tx)
    assert info == {"rows": 6919, "customers": 2357, "first_date": "1997-01-01", "last_date": "1998-06-30"}
    assert isinstance(clv.rfm_summary(tx, observation_end="1997-09-30"), clv.RFMSummary)


# --------------------------------------------------------------------------------------------
# the registry feeds the config, the pipeline and compare_models
# --------------------------------------------------------------------------------------------
def test_registry_classes_implement_the_protocol():
    from clvmodels.protocols import CustomerDrawsModel

    for key in registry.keys():
        spec = registry.get(key)
        protocol = PurchaseModel if spec.role == "purchase" else SpendModel
        if spec.mle is not None:
            assert isinstance(registry.model_class(key)(), protocol), key
        for method in spec.bayes_methods if spec.bayes is not None else ():
            if method != "gibbs":
                pytest.importorskip("pymc")
            model = registry.model_class(key, method)()
            # a model with per-customer posteriors (the Pareto/GGG) implements the per-customer contract
            assert isinstance(model, CustomerDrawsModel if method == "gibbs" else protocol), (key, method)
    with pytest.raises(ConfigError, match="registered models"):
        registry.get("nope")
    with pytest.raises(ConfigError, match="no Bayesian implementation"):
        registry.model_class("mbgnbd", "nuts")


def test_config_takes_its_model_names_from_the_registry():
    from clvmodels.config import load_config

    base = {"name": "t", "data": {"source": "cdnow_sample"}}
    for key in registry.keys("purchase"):
        cfg, _ = load_config({**base, "models": {"purchase": key}})
        assert cfg.models.purchase.name == key
    with pytest.raises(ConfigError) as e:
        load_config({**base, "models": {"purchase": "nope"}})
    assert e.value.key == "models.purchase" and "bgnbd" in str(e.value)


# --------------------------------------------------------------------------------------------
# models of your own: the protocol is all the other layers read
# --------------------------------------------------------------------------------------------
def _nbd_p_purchases(r, alpha, n, t):
    return np.exp(special.gammaln(r + n) - special.gammaln(r) - special.gammaln(n + 1)
                  + r * np.log(alpha / (alpha + t)) + n * np.log(t / (alpha + t)))


#: the NBD (Ehrenberg 1959): Poisson purchasing at a Gamma(r, alpha) rate, customers never leave
NBD_MATH = types.SimpleNamespace(
    p_alive=lambda r, alpha, x, t_x, T: np.ones(np.broadcast(r, x, T).shape),
    conditional_expected_purchases=lambda r, alpha, x, t_x, T, t: (r + x) * t / (alpha + T),
    expected_purchases_new=lambda r, alpha, t: r * t / alpha,
    p_alive_ahead=lambda r, alpha, x, T, t: np.ones(np.broadcast(r, x, T, t).shape),
    p_no_purchase_ahead=lambda r, alpha, x, T, t: ((alpha + T) / (alpha + T + t)) ** (r + x),
    p_purchases=_nbd_p_purchases,
)

#: a shrinkage spend model: the customer's mean pulled towards mu with the weight of w purchases
SHRINK_MATH = types.SimpleNamespace(
    conditional_expected_spend=lambda mu, w, x, mbar: (w * mu + x * mbar) / (w + x),
    expected_spend_new=lambda mu, w: mu,
)


class NBD:
    """A purchase model written outside clvmodels: only the protocol (and sklearn's clone)."""

    param_names = ("r", "alpha")
    input_columns = ("frequency", "recency", "T")
    covariate_columns = ()
    time_axis = "continuous"
    math = NBD_MATH

    def __init__(self):
        self.params_ = None
        self.time_unit_ = None

    def get_params(self, deep=False):
        return {}

    def set_params(self, **kw):
        return self

    def fit(self, summary):
        x, T = summary["frequency"].to_numpy(float), summary["T"].to_numpy(float)

        def nll(th):
            r, a = np.exp(th)
            return -np.sum(special.gammaln(r + x) - special.gammaln(r) + r * np.log(a) - (r + x) * np.log(a + T))
        res = optimize.minimize(nll, [0.0, 1.0], method="Nelder-Mead", options={"xatol": 1e-10, "fatol": 1e-10})
        self.params_ = dict(zip(self.param_names, np.exp(res.x)))
        self.time_unit_ = summary.time_unit
        return self

    def check_fitted(self):
        if self.params_ is None:
            raise clv.errors.NotFittedError("fit first")

    def parameter_draws(self, n_draws=None, random_state=None):
        self.check_fitted()
        rng = np.random.default_rng(random_state)
        n = n_draws or 0
        draws = {k: v * np.exp(rng.normal(0.0, 0.05, n)) for k, v in self.params_.items()}
        return ParameterDraws(draws, {k: np.asarray(v) for k, v in self.params_.items()}, "mine")

    def customer_parameters(self, params, covariates=None):
        return {k: np.asarray(params[k], dtype=float).reshape(1, -1) for k in self.param_names}


class Shrinkage:
    param_names = ("mu", "w")
    input_columns = ("frequency", "monetary_value")
    math = SHRINK_MATH

    def __init__(self, mu=None, w=2.0):
        self.mu, self.w = mu, w

    def check_fitted(self):
        if self.mu is None:
            raise clv.errors.NotFittedError("fit first")

    def fit(self, summary):
        rep = summary["frequency"] > 0
        self.mu = float(np.average(summary.loc[rep, "monetary_value"], weights=summary.loc[rep, "frequency"]))
        return self

    def get_params(self, deep=False):
        return {"mu": self.mu, "w": self.w}

    def parameter_draws(self, n_draws=None, random_state=None):
        self.check_fitted()
        rng = np.random.default_rng(random_state)
        n = n_draws or 0
        return ParameterDraws({"mu": self.mu * np.exp(rng.normal(0, 0.02, n)), "w": np.full(n, self.w)},
                              {"mu": np.asarray(self.mu), "w": np.asarray(self.w)}, "mine")

    def spend_inputs(self, frame):
        x = frame["frequency"].to_numpy(float)
        return x, np.where(x > 0, frame["monetary_value"].to_numpy(float), 0.0)


@pytest.fixture(scope="module")
def cal():
    tx = clv.datasets.cdnow_transactions(sample=True)
    return clv.calibration_holdout(tx, "1997-09-30", "1998-06-30")


def test_own_models_forecast_as_their_math_says(cal):
    nbd, spend = NBD().fit(cal), Shrinkage().fit(cal)
    assert isinstance(nbd, PurchaseModel) and isinstance(spend, SpendModel)
    fc = clv.forecast_clv(cal, nbd, spend, horizon=6, period="M", discount_rate=0.10, margin=0.3, interval=0.9,
                          n_draws=50, random_state=0)
    # by hand: customers never leave, so each month brings (r + x) tau / (alpha + T) purchases
    r, alpha = nbd.params_["r"], nbd.params_["alpha"]
    x, T = cal["frequency"].to_numpy(float), cal["T"].to_numpy(float)
    tau = (365.25 / 12) / 7                              # a month in weeks
    per_month = (r + x) * tau / (alpha + T)
    mbar = np.where(x > 0, cal["monetary_value"].to_numpy(float), 0.0)
    spend_i = (2.0 * spend.mu + x * mbar) / (2.0 + x)
    v = 1.1 ** (-np.arange(1, 7) / 12)
    np.testing.assert_allclose(fc["expected_purchases"], 6 * per_month, rtol=1e-12)
    np.testing.assert_allclose(fc["expected_spend"], spend_i, rtol=1e-12)
    np.testing.assert_allclose(fc["clv"], 0.3 * spend_i * per_month * v.sum(), rtol=1e-10)
    np.testing.assert_allclose(fc["p_alive"], 1.0)
    assert (fc["clv_lower"] <= fc["clv"] + 1e-9).all() and (fc["clv"] <= fc["clv_upper"] + 1e-9).all()
    assert fc.attrs["purchase_model"] == "NBD"


def test_own_models_evaluate_and_compare(cal):
    tx = clv.datasets.cdnow_transactions(sample=True)
    nbd = NBD().fit(cal)
    ev = clv.evaluate.evaluate(cal, nbd, Shrinkage().fit(cal), transactions=tx)
    r, alpha = nbd.params_["r"], nbd.params_["alpha"]
    expected = (r + cal["frequency"]) * 39 / (alpha + cal["T"])
    np.testing.assert_allclose(ev.predictions["expected_purchases"], expected, rtol=1e-12)
    assert ev.metrics["tracking_holdout_actual"] == cal["frequency_holdout"].sum()
    cmp = clv.compare_models(cal, {"NBD": NBD(), "BG/NBD": clv.BGNBD()}, spend_model=Shrinkage(), transactions=tx,
                             baseline=False)
    assert set(cmp.table.index) == {"NBD", "BG/NBD"}
    # the NBD ignores attrition: it over-forecasts the holdout, the BG/NBD does better
    assert cmp.table.loc["NBD", "aggregate_error_pct"] > cmp.table.loc["BG/NBD", "aggregate_error_pct"]
    assert cmp.recommended == "BG/NBD"


def test_an_object_that_is_not_a_model_is_named(cal):
    with pytest.raises(ConfigError, match="not a purchase model") as e:
        clv.forecast_clv(cal, object(), 1.0, horizon=2, period="M", discount_rate=0.1, margin=1.0)
    assert e.value.key == "purchase"
    with pytest.raises(ConfigError, match="not a spend model"):
        clv.forecast_clv(cal, clv.BGNBD().fit(cal), object(), horizon=2, period="M", discount_rate=0.1, margin=1.0)


# --------------------------------------------------------------------------------------------
# the typed summary
# --------------------------------------------------------------------------------------------
def test_summary_keeps_its_facts_through_pandas_operations(cal):
    assert cal.time_unit == "W" and str(cal.calibration_end.date()) == "1997-09-30"
    assert str(cal.observation_end.date()) == "1998-06-30" and cal.options.merge == "D"
    for derived in (cal[cal["frequency"] > 0], cal.copy(), cal.assign(z=1.0), cal.head(10),
                    cal.join(pd.Series(1.0, index=cal.index, name="w")), cal.loc[cal.index[:5]]):
        assert isinstance(derived, clv.RFMSummary) and derived.time_unit == "W", type(derived)
    # what is no longer a summary is a plain DataFrame
    assert type(cal[["frequency", "T"]]) is pd.DataFrame and type(cal.reset_index()) is pd.DataFrame
    assert cal.holdout_duration == pytest.approx(39.0)


def test_summary_from_frame_validates_once():
    frame = pd.DataFrame({"frequency": [1, 0], "recency": [2.0, 1.0], "T": [5.0, 5.0]},
                         index=pd.Index(["a", "b"], name="customer_id"))
    with pytest.raises(clv.errors.InvalidValueError) as e:      # recency > 0 without a repeat purchase
        clv.RFMSummary.from_frame(frame, time_unit="W")
    assert e.value.examples == ["b"]
    with pytest.raises(ConfigError):
        clv.RFMSummary.from_frame(frame.iloc[:1], time_unit="fortnight")


def test_modules_import_without_cycles():
    # data/ had an import cycle (rfm <-> duckdb_engine); every module imports on its own
    for path in sorted((PACKAGE / "data").glob("*.py")):
        importlib.import_module(_module_name(path))
