"""Plots render with the expected axes, labels, artists and data (Agg backend, nothing shown)."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402

import clvmodels as clv  # noqa: E402
from clvmodels import plots as P  # noqa: E402
from clvmodels.errors import DataValidationError, MissingColumnError  # noqa: E402

# Fader, Hardie & Lee (2005), section 5: BG/NBD on the CDNOW sample; Gamma-Gamma: Fader, Hardie &
# Lee (2005) "RFM and CLV", section 4 (p=6.25, q=3.74, gamma=15.44)
FHL_BGNBD = {"r": 0.243, "alpha": 4.414, "a": 0.793, "b": 2.426}
FHL_GG = {"p": 6.25, "q": 3.74, "v": 15.44}


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


@pytest.fixture(scope="module")
def sample():
    tx = clv.datasets.cdnow_transactions(sample=True)
    cal = clv.calibration_holdout(tx, calibration_end="1997-09-30", observation_end="1998-06-30", time_unit="W")
    return tx, cal


@pytest.fixture(scope="module")
def bg():
    return clv.BGNBD.from_params(**FHL_BGNBD)


@pytest.fixture(scope="module")
def evaluation(sample, bg):
    tx, cal = sample
    gg = clv.GammaGamma.from_params(**FHL_GG)
    return clv.evaluate.evaluate(cal, bg, gg, transactions=tx, name="BG/NBD")


@pytest.fixture(scope="module")
def two_models(sample, bg, evaluation):
    tx, cal = sample
    pareto = clv.ParetoNBD.from_params(r=0.553, alpha=10.578, s=0.606, beta=11.669)   # FHL 2005, section 5
    other = clv.evaluate.evaluate(cal, pareto, transactions=tx, name="Pareto/NBD")
    return [evaluation, other]


def _texts(ax):
    return ax.get_xlabel(), ax.get_ylabel(), ax.get_title()


def test_period_transactions(sample, bg):
    _, cal = sample
    ax = P.plot_period_transactions(bg, cal)
    xl, yl, title = _texts(ax)
    assert xl == "Repeat purchases in the calibration period" and yl == "Customers"
    assert "actual vs model" in title
    assert len(ax.containers) == 2 and len(ax.patches) == 16
    actual = [p.get_height() for p in ax.containers[0]]
    # FHL 2005 Figure 1 / design notes: x = 0..6, 7+ -> 1411, 439, 214, 100, 62, 38, 29, 64
    assert actual == [1411, 439, 214, 100, 62, 38, 29, 64]
    expected = np.array([p.get_height() for p in ax.containers[1]])
    assert expected.sum() == pytest.approx(2357)
    # the BG/NBD fits the calibration histogram closely (FHL 2005 Figure 1): within 8% of 1411 zeros
    assert expected[0] == pytest.approx(1411, rel=0.08)
    assert [t.get_text() for t in ax.get_xticklabels()] == ["0", "1", "2", "3", "4", "5", "6", "7+"]
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["Actual", "BGNBD"]


@pytest.mark.parametrize("cumulative", [False, True])
def test_tracking(evaluation, cumulative):
    ax = P.plot_tracking(evaluation, cumulative=cumulative)
    xl, yl, title = _texts(ax)
    assert xl == "Week since the cohort's first purchase"
    assert yl == ("Cumulative repeat purchases" if cumulative else "Repeat purchases per week")
    assert title.startswith("Cumulative" if cumulative else "Weekly")
    lines = ax.get_lines()
    assert len(lines) == 3   # actual, model, calibration-end marker
    actual, model, marker = lines
    col = "actual_cumulative" if cumulative else "actual"
    np.testing.assert_array_equal(actual.get_ydata(), evaluation.tracking[col].to_numpy())
    assert len(model.get_xdata()) == 78
    assert marker.get_xdata()[0] == pytest.approx(39.5)
    if cumulative:
        assert actual.get_ydata()[38] == 2457 and actual.get_ydata()[-1] == 2457 + 1882


def test_tracking_needs_a_tracking_table(sample, bg):
    _, cal = sample
    ev = clv.evaluate.evaluate(cal, bg)
    with pytest.raises(DataValidationError, match="transactions"):
        P.plot_tracking(ev)


def test_conditional_expectations_several_models(two_models):
    ax = P.plot_conditional_expectations(two_models)
    assert _texts(ax) == ("Repeat purchases in the calibration period", "Average purchases in the holdout",
                          "Conditional expectations: holdout purchases by calibration frequency")
    lines = ax.get_lines()
    assert len(lines) == 3
    # actual holdout means by calibration frequency (BTYD walkthrough, comp "transaction.actual")
    np.testing.assert_allclose(lines[0].get_ydata(), [0.2367116, 0.6970387, 1.392523, 1.56, 2.532258, 2.947368,
                                                      3.862069, 6.359375], rtol=1e-6)
    np.testing.assert_allclose(lines[2].get_ydata(), two_models[1].conditional_expectations["predicted"])
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["Actual", "BG/NBD", "Pareto/NBD"]


@pytest.mark.parametrize("which", ["expected", "alive"])
def test_frequency_recency_heatmaps(sample, bg, which):
    _, cal = sample
    if which == "expected":
        ax = P.plot_frequency_recency_matrix(bg, summary=cal, max_frequency=6, t=39)
        assert ax.get_title().startswith("Expected purchases in the next 39 time units")
    else:
        ax = P.plot_probability_alive_matrix(bg, summary=cal, max_frequency=6)
        assert ax.get_title().startswith("Probability alive")
    assert ax.get_xlabel().startswith("Recency") and ax.get_ylabel().startswith("Frequency")
    assert len(ax.images) == 1
    data = ax.images[0].get_array()
    assert data.shape == (7, 39)   # frequency 0..6, recency 0..38 (T = 38.86 weeks)
    assert data.mask[0, 1:].all() and not data.mask[0, 0] and not data.mask[1:, 1:].any()
    assert len(ax.figure.axes) == 2   # image + colour bar
    if which == "alive":
        assert data[0, 0] == pytest.approx(1.0)   # BG/NBD: no repeat purchase -> alive
        assert 0 < data.min() and data.max() <= 1
        # more recent last purchases mean more likely alive
        assert np.all(np.diff(data[3, 1:]) > 0)
    else:
        expected = bg.expected_purchases(pd.DataFrame({"frequency": [3.0], "recency": [20.0], "T": [cal["T"].max()]}),
                                         t=39).iloc[0]
        assert data[3, 20] == pytest.approx(expected)


def test_heatmap_needs_T(bg):
    with pytest.raises(DataValidationError, match="summary"):
        P.plot_frequency_recency_matrix(bg)


def test_spend_calibration(evaluation):
    ax = P.plot_spend_calibration(evaluation)
    assert _texts(ax) == ("Repeat purchases in the calibration period", "Mean spend per holdout purchase",
                          "Spend calibration: predicted vs actual holdout spend")
    assert len(ax.containers) == 2 and len(ax.patches) == 14   # frequency 1..6, 7+
    np.testing.assert_allclose([p.get_height() for p in ax.containers[1]],
                               evaluation.spend_calibration["predicted"].to_numpy())


def test_revenue_capture(two_models):
    ax = P.plot_revenue_capture(two_models)
    assert ax.get_ylabel() == "Share of holdout revenue"
    lines = ax.get_lines()
    assert len(lines) == 5   # oracle, random, two models, top-share marker
    for line in lines[:4]:
        y = np.asarray(line.get_ydata(), dtype=float)
        assert y[0] == pytest.approx(0.0) and y[-1] == pytest.approx(1.0)
    oracle_at_top = np.interp(0.1, lines[0].get_xdata(), lines[0].get_ydata())
    assert oracle_at_top == pytest.approx(two_models[0].metrics["revenue_top_capture_oracle"], abs=1e-9)
    model_at_top = np.interp(0.1, lines[2].get_xdata(), lines[2].get_ydata())
    assert model_at_top == pytest.approx(two_models[0].metrics["revenue_top_capture"], abs=1e-9)


def _forecast(n=60, seed=5):
    rng = np.random.default_rng(seed)
    clv_ = rng.gamma(0.8, 40.0, n)
    out = pd.DataFrame({"clv": clv_, "clv_lower": clv_ * 0.8, "clv_upper": clv_ * 1.3},
                       index=pd.Index(np.arange(100, 100 + n), name="customer_id"))
    out.attrs["interval"] = 0.9
    return out


def test_clv_intervals():
    fc = _forecast()
    ax = P.plot_clv_intervals(fc, n=10)
    assert _texts(ax) == ("CLV", "Customer", "CLV with 90% intervals")
    assert len(ax.containers) == 1
    points = ax.get_lines()[0]
    top = fc["clv"].nlargest(10).to_numpy()
    np.testing.assert_allclose(points.get_xdata(), top)
    labels = dict(zip(ax.get_yticks(), [t.get_text() for t in ax.get_yticklabels()]))
    assert labels[max(labels)] == str(fc["clv"].idxmax())   # the highest CLV is drawn at the top
    ax2 = P.plot_clv_intervals(fc, n=5, order="sample", random_state=1)
    assert len(ax2.get_lines()[0].get_xdata()) == 5
    with pytest.raises(MissingColumnError):
        P.plot_clv_intervals(fc.drop(columns="clv_lower"))


def test_clv_distribution():
    fc = _forecast(500)
    ax = P.plot_clv_distribution(fc, bins=25)
    assert _texts(ax) == ("CLV", "Customers", "Distribution of customer lifetime value")
    assert len(ax.patches) == 25
    assert sum(p.get_height() for p in ax.patches) == 500
    mean_line, median_line = ax.get_lines()
    assert mean_line.get_xdata()[0] == pytest.approx(fc["clv"].mean())
    assert median_line.get_xdata()[0] == pytest.approx(fc["clv"].median())
    with pytest.raises(DataValidationError):
        P.plot_clv_distribution(pd.Series([1.0, np.nan]))


def test_whale_curve():
    margin = pd.Series([50.0, 30.0, 20.0, -10.0, 10.0], index=list("abcde"), name="historical")
    ax = P.plot_whale_curve(margin)
    assert _texts(ax) == ("Share of customers (most profitable first)", "Cumulative share of total margin",
                          "Whale curve")
    curve, ref = ax.get_lines()
    # total 100: cumulative 50, 80, 100, 110, 100 -> shares 0.5, 0.8, 1.0, 1.1, 1.0 (a whale's hump)
    np.testing.assert_allclose(curve.get_ydata(), [0.0, 0.5, 0.8, 1.0, 1.1, 1.0])
    np.testing.assert_allclose(curve.get_xdata(), [0.0, 0.2, 0.4, 0.6, 0.8, 1.0])
    assert ref.get_ydata()[0] == 1.0
    assert "100% from 60% of customers" in ax.get_legend().get_texts()[0].get_text()
    ax2 = P.plot_whale_curve({"a": margin, "b": margin * 2})
    assert len(ax2.get_lines()) == 3


def test_posterior_panels():
    az = pytest.importorskip("arviz")
    rng = np.random.default_rng(0)
    post = {"r": rng.lognormal(-1.4, 0.05, (2, 50)), "alpha": rng.lognormal(1.5, 0.05, (2, 50)),
            "purchase_coef": rng.normal(0.3, 0.05, (2, 50, 2))}
    idata = az.from_dict(posterior=post, coords={"purchase_covariate": ["x1", "x2"]},
                         dims={"purchase_coef": ["purchase_covariate"]})

    class FakeBayes:
        idata_ = idata

        @staticmethod
        def parameter_draws(n_draws=None, random_state=None):
            from clvmodels.protocols import ParameterDraws

            return ParameterDraws({k: np.zeros(1) for k in ("r", "alpha", "purchase_coef")}, None, "posterior")

    fig = P.plot_posterior(FakeBayes(), interval=0.9)
    axes = [ax for ax in fig.axes if ax.get_visible()]
    assert [ax.get_title() for ax in axes] == ["r", "alpha", "purchase_coef[x1]", "purchase_coef[x2]"]
    assert "90% intervals" in fig._suptitle.get_text()
    for ax in axes:
        assert len(ax.get_lines()) == 3 and len(ax.patches) == 40
    assert axes[0].get_lines()[0].get_xdata()[0] == pytest.approx(post["r"].mean())


def test_plots_never_show(monkeypatch, sample, bg):
    _, cal = sample
    monkeypatch.setattr(plt, "show", lambda *a, **k: (_ for _ in ()).throw(AssertionError("show called")))
    P.plot_period_transactions(bg, cal)
    P.plot_clv_distribution(_forecast())


def test_period_transactions_of_a_bayesian_model(sample, bg):
    az = pytest.importorskip("arviz")
    _, cal = sample
    bayes = clv.bayes.BGNBD()
    # a posterior concentrated on the FHL 2005 estimates gives the MLE model's histogram
    bayes.idata_ = az.from_dict(posterior={k: np.full((2, 4), v) for k, v in FHL_BGNBD.items()})
    bayes.time_unit_ = "W"
    heights = [[p.get_height() for p in P.plot_period_transactions(m, cal).containers[1]] for m in (bayes, bg)]
    np.testing.assert_allclose(heights[0], heights[1], rtol=1e-12)
