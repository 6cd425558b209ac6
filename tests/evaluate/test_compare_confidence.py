"""compare_models: paired-bootstrap intervals, the 'clear' verdict, BIC / AIC and the time split.

The data are simulated, so the true model is known: Pareto/NBD logs (Schmittlein, Morrison &
Colombo 1987: Poisson purchases at rate lambda ~ Gamma(r, alpha) during an exponential lifetime of
rate mu ~ Gamma(s, beta)) and BG/NBD logs (Fader, Hardie & Lee 2005; the simulator of
test_baseline_attrition.py).
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

import clvmodels as clv
from clvmodels.errors import ConfigError
from clvmodels.evaluate import compare_models
from clvmodels.evaluate import metrics as M
from clvmodels.evaluate.bootstrap import bootstrap_counts, paired_bootstrap

from .test_baseline_attrition import START, STRONG_ATTRITION, simulate_bgnbd_log

# weekly rates Gamma(0.5, 2) (mean 0.25), lifetimes Exp(mu), mu ~ Gamma(0.5, 10) (mean 0.05: 20 weeks)
PARETO = {"r": 0.5, "alpha": 2.0, "s": 0.5, "beta": 10.0}


def simulate_paretonbd_log(n: int, *, r: float, alpha: float, s: float, beta: float, weeks: float,
                           birth_weeks: float, seed: int) -> pd.DataFrame:
    """Transaction log of a Pareto/NBD process; first purchases uniform over ``birth_weeks``."""
    rng = np.random.default_rng(seed)
    lam = rng.gamma(r, 1.0 / alpha, n)
    birth = rng.uniform(0.0, birth_weeks, n)
    death = birth + rng.exponential(1.0, n) / rng.gamma(s, 1.0 / beta, n)
    t = birth.copy()
    who, when = [np.arange(n)], [t.copy()]
    alive = np.ones(n, dtype=bool)
    while alive.any():
        t = t + rng.exponential(1.0, n) / lam
        alive &= (t < weeks) & (t < death)
        who.append(np.flatnonzero(alive))
        when.append(t[alive])
    who, when = np.concatenate(who), np.concatenate(when)
    return pd.DataFrame({"customer_id": who,
                         "date": START + pd.to_timedelta(np.floor(when * 7).astype(np.int64), unit="D")})


def _day(weeks: float) -> pd.Timestamp:
    return START + pd.Timedelta(days=int(7 * weeks) - 1)


@pytest.fixture(scope="module")
def pareto_log():
    return simulate_paretonbd_log(3000, **PARETO, weeks=78, birth_weeks=12, seed=1)


@pytest.fixture(scope="module")
def pareto_split(pareto_log):
    return clv.calibration_holdout(pareto_log, _day(39), _day(78), amount_col=None)


@pytest.fixture(scope="module")
def pareto_fit(pareto_split):
    return clv.ParetoNBD().fit(pareto_split)


@pytest.fixture(scope="module")
def true_vs_wrong(pareto_split, pareto_fit):
    return compare_models(pareto_split, {"BG/NBD": clv.BGNBD(), "Pareto/NBD": pareto_fit}, random_state=0)


@pytest.fixture(scope="module")
def near_identical(pareto_split, pareto_fit):
    p = pareto_fit.params_
    nudged = clv.ParetoNBD.from_params(r=1.01 * p["r"], alpha=p["alpha"], s=p["s"], beta=p["beta"])
    return compare_models(pareto_split, {"Pareto/NBD": pareto_fit, "Pareto/NBD, r + 1%": nudged}, random_state=0)


@pytest.fixture(scope="module")
def bgnbd_log():
    return simulate_bgnbd_log(3000, **STRONG_ATTRITION, weeks=39, birth_weeks=8, seed=3)


@pytest.fixture(scope="module")
def bgnbd_rfm(bgnbd_log):
    return clv.rfm_summary(bgnbd_log, observation_end=_day(39), amount_col=None)


# ---- the verdict --------------------------------------------------------------------------------------
def test_the_true_model_is_recommended_and_clear(true_vs_wrong):
    rec = true_vs_wrong.recommendation
    assert true_vs_wrong.recommended == rec.model == "Pareto/NBD"
    assert rec.criterion == "holdout" and rec.clear is True
    assert rec.versus == {"BG/NBD": "clearly better"}
    assert rec.support > 0.9 and rec.n_boot == 1000 and rec.interval == 0.95
    assert "clearly better than BG/NBD" in rec.reason and "The recommendation is clear" in rec.reason
    assert true_vs_wrong.reason == rec.reason
    # the evidence: BG/NBD's MAE is higher on every resample's 95% range, by more than 1% of the MAE
    iv = true_vs_wrong.intervals.set_index(["metric", "model"])
    mae = iv.loc[("mae", "BG/NBD")]
    assert mae["diff"] > 0 and mae["diff_lower"] > 0.01 * iv.loc[("mae", "Pareto/NBD"), "value"]


def test_near_identical_models_are_not_distinguishable(near_identical):
    rec = near_identical.recommendation
    other = next(n for n in near_identical.table.index if n != rec.model)
    assert rec.clear is False and rec.versus == {other: "not distinguishable"}
    assert "not distinguishable on this holdout" in rec.reason and "the recommendation is not clear" in rec.reason


def test_min_difference_zero_counts_any_systematic_difference(pareto_split, pareto_fit, near_identical):
    # a 1% nudge of r shifts every prediction the same way: beyond resampling noise, but below 1% of
    # the MAE; with min_difference=0 the same data no longer call the pair indistinguishable
    p = pareto_fit.params_
    nudged = clv.ParetoNBD.from_params(r=1.01 * p["r"], alpha=p["alpha"], s=p["s"], beta=p["beta"])
    strict = compare_models(pareto_split, {"Pareto/NBD": pareto_fit, "Pareto/NBD, r + 1%": nudged},
                            min_difference=0.0, random_state=0)
    assert set(strict.recommendation.versus.values()) != {"not distinguishable"}
    iv = near_identical.intervals
    mae = iv[(iv["metric"] == "mae") & (iv["model"] != near_identical.recommended)].iloc[0]
    assert mae["diff_lower"] > 0 or mae["diff_upper"] < 0     # beyond noise ...
    assert max(abs(mae["diff_lower"]), abs(mae["diff_upper"])) < 0.01 * iv[iv["metric"] == "mae"]["value"].min()


# ---- the intervals --------------------------------------------------------------------------------------
def test_intervals_cover_the_full_sample_values_which_equal_evaluate(true_vs_wrong):
    iv = true_vs_wrong.intervals
    assert list(iv.columns) == ["split", "metric", "model", "value", "lower", "upper", "diff", "diff_lower",
                                "diff_upper", "direction"]
    assert set(iv["split"]) == {"holdout"}
    assert {"aggregate_error_pct", "mae", "rmse", "correlation", "purchases_top_capture"} <= set(iv["metric"])
    assert (iv["lower"] <= iv["value"]).all() and (iv["value"] <= iv["upper"]).all()
    assert (iv["upper"] > iv["lower"]).all()
    assert ((iv["diff_lower"] <= iv["diff"]) & (iv["diff"] <= iv["diff_upper"])).all()
    for row in iv.itertuples():
        assert row.value == pytest.approx(true_vs_wrong.evaluations[row.model].metrics[row.metric], rel=1e-10)


def test_identical_models_have_a_zero_width_difference(pareto_split, pareto_fit):
    # the same model twice: with the same resample for both (paired) every difference is 0 (to the
    # last bits of the matrix products); resampled independently, the differences would spread like
    # the metrics themselves
    cmp = compare_models(pareto_split, {"A": pareto_fit, "B": pareto_fit}, n_boot=300, random_state=2)
    iv = cmp.intervals
    assert np.abs(iv[["diff", "diff_lower", "diff_upper"]].to_numpy()).max() < 1e-12
    assert ((iv["upper"] - iv["lower"]) > 1e-3 * iv["value"].abs()).all()
    assert cmp.recommendation.versus == {"B": "not distinguishable"} and not cmp.recommendation.clear
    assert cmp.recommendation.support == 1.0      # tied in every resample: counted as first


def test_paired_differences_are_narrower_than_the_metrics(near_identical):
    iv = near_identical.intervals
    other = iv[(iv["metric"] == "mae") & (iv["model"] != near_identical.recommended)].iloc[0]
    assert (other["diff_upper"] - other["diff_lower"]) < 0.1 * (other["upper"] - other["lower"])


def test_weighted_metrics_equal_explicit_resampling(true_vs_wrong):
    frames = {k: ev.predictions for k, ev in true_vs_wrong.evaluations.items()}
    boot = paired_bootstrap(frames, n_boot=4, random_state=11, top_share=0.2)
    n = len(next(iter(frames.values())))
    counts = np.concatenate(list(bootstrap_counts(n, 4, random_state=11)), axis=1)
    for b in range(4):
        rows = np.repeat(np.arange(n), counts[:, b].astype(np.int64))
        for j, name in enumerate(boot.models):
            frame = frames[name].iloc[rows]
            pm = M.purchase_metrics(frame["expected_purchases"], frame["frequency_holdout"])
            expected = [pm["aggregate_error_pct"], pm["mae"], pm["rmse"], pm["correlation"],
                        M.top_share_capture(frame["expected_purchases"], frame["frequency_holdout"], 0.2)]
            np.testing.assert_allclose(boot.replicates[b, :, j], expected, rtol=1e-9)


def test_resamples_do_not_depend_on_the_chunk_size():
    whole = np.concatenate(list(bootstrap_counts(1000, 50, random_state=3)), axis=1)
    chunks = list(bootstrap_counts(1000, 50, random_state=3, max_elements=7000))
    assert max(c.size for c in chunks) <= 7000 and len(chunks) == 8
    np.testing.assert_array_equal(whole, np.concatenate(chunks, axis=1))
    assert (whole.sum(axis=0) == 1000).all()


def test_the_same_seed_gives_the_same_answer(pareto_split, pareto_fit, true_vs_wrong):
    again = compare_models(pareto_split, {"BG/NBD": clv.BGNBD(), "Pareto/NBD": pareto_fit}, random_state=0)
    pd.testing.assert_frame_equal(again.intervals, true_vs_wrong.intervals)
    other = compare_models(pareto_split, {"BG/NBD": clv.BGNBD(), "Pareto/NBD": pareto_fit}, random_state=1)
    assert not other.intervals["lower"].equals(true_vs_wrong.intervals["lower"])


def test_without_resamples_nothing_is_called_clear(pareto_split, pareto_fit):
    cmp = compare_models(pareto_split, {"BG/NBD": clv.BGNBD(), "Pareto/NBD": pareto_fit}, n_boot=0)
    assert cmp.intervals is None and cmp.recommendation.clear is False
    assert cmp.recommendation.versus == {"BG/NBD": "not assessed"} and cmp.recommendation.support is None
    assert "not assessed" in cmp.reason and cmp.recommended == "Pareto/NBD"


def test_summary_and_json_carry_the_statement(true_vs_wrong):
    text = str(true_vs_wrong)
    assert text.startswith("Model comparison - criterion: holdout")
    assert "Recommendation: Pareto/NBD (clear)" in text and "Paired bootstrap (1000 resamples" in text
    doc = true_vs_wrong.to_dict()
    assert doc["recommendation"]["clear"] is True and doc["recommendation"]["versus"] == {"BG/NBD": "clearly better"}
    assert doc["criterion"] == "holdout" and len(doc["intervals"]) == len(true_vs_wrong.intervals)
    assert {"metric", "model", "lower", "upper", "diff_lower"} <= set(doc["intervals"][0])


# ---- information criteria ---------------------------------------------------------------------------
def test_bic_picks_the_true_model_without_a_holdout(pareto_log):
    with pytest.warns(clv.errors.DataDroppedWarning, match="after observation_end"):
        rfm = clv.rfm_summary(pareto_log, observation_end=_day(39), amount_col=None)
    cmp = compare_models(rfm, {"BG/NBD": clv.BGNBD(), "MBG/NBD": clv.MBGNBD(), "Pareto/NBD": clv.ParetoNBD()})
    assert cmp.criterion == "bic" and any("criterion='auto'" in n and "BIC" in n for n in cmp.notes)
    assert cmp.recommended == "Pareto/NBD" and cmp.recommendation.clear
    assert cmp.recommendation.versus == {"MBG/NBD": "clearly better", "BG/NBD": "clearly better"}
    assert cmp.evaluations == {} and cmp.table.index[0] == "Pareto/NBD"
    assert cmp.table["bic"].is_monotonic_increasing
    n = len(rfm)
    for name, model in cmp.models.items():
        row = cmp.table.loc[name]
        assert row["loglik"] == pytest.approx(model.loglik_, rel=1e-10) and row["n_params"] == 4
        assert row["bic"] == pytest.approx(4 * math.log(n) - 2 * model.loglik_, rel=1e-12)
        assert row["aic"] == pytest.approx(8 - 2 * model.loglik_, rel=1e-12)
    iv = cmp.intervals
    assert set(iv["split"]) == {"calibration"} and set(iv["metric"]) == {"loglik", "aic", "bic"}
    assert (iv[(iv["metric"] == "bic") & (iv["model"] != "Pareto/NBD")]["diff_lower"] > 2).all()


def test_aic_and_bic_on_a_holdout_summary(cdnow_sample_cal):
    # CDNOW sample (Fader, Hardie & Lee 2005): LL -9582.4 (BG/NBD) and -9595.0 (Pareto/NBD), 4 parameters
    cmp = compare_models(cdnow_sample_cal, {"Pareto/NBD": clv.ParetoNBD(), "BG/NBD": clv.BGNBD()}, spend_model=None,
                         criterion="aic", n_boot=300)
    assert cmp.criterion == "aic" and cmp.recommended == "BG/NBD"
    np.testing.assert_allclose(cmp.table.loc[["BG/NBD", "Pareto/NBD"], "loglik"], [-9582.4, -9595.0], atol=0.05)
    assert "mean_rank" in cmp.table.columns and set(cmp.evaluations) == {"Pareto/NBD", "BG/NBD"}
    assert "On the holdout, Pareto/NBD has the best mean rank" in cmp.reason
    assert set(cmp.intervals["split"]) == {"holdout", "calibration"}
    # about 25 AIC points apart, but the per-customer log-likelihoods vary more than that
    assert cmp.recommendation.versus == {"Pareto/NBD": "not distinguishable"}


class _NoLikelihood(clv.BGNBD):
    log_likelihood = None


def test_models_without_a_likelihood_are_left_out_of_bic(cdnow_sample_cal):
    plain = cdnow_sample_cal[["frequency", "recency", "T"]]
    cmp = compare_models(plain, {"BG/NBD": clv.BGNBD(), "other": _NoLikelihood()}, n_boot=100)
    assert cmp.recommended == "BG/NBD" and cmp.recommendation.versus == {}
    assert any(n.startswith("other: no per-customer log_likelihood") for n in cmp.notes)
    with pytest.raises(ConfigError, match="log_likelihood"):
        compare_models(plain, {"other": _NoLikelihood()})


# ---- the time split --------------------------------------------------------------------------------------
def test_time_split_scores_inside_the_calibration_period(bgnbd_log, bgnbd_rfm):
    models = {"BG/NBD": clv.BGNBD(), "MBG/NBD": clv.MBGNBD()}
    cmp = compare_models(bgnbd_rfm, models, transactions=bgnbd_log, criterion="time_split", baseline=False,
                         n_boot=300)
    assert cmp.criterion == "time_split" and set(cmp.evaluations) == set(models)
    assert set(cmp.intervals["split"]) == {"time_split"}
    assert "mean_rank" in cmp.table.columns and cmp.recommended in models
    # the cut: half of the oldest customer's age after the first transaction day (to the day)
    cut = pd.Timestamp(cmp.time_split["calibration_end"])
    half = bgnbd_log["date"].min() + pd.Timedelta(days=0.5 * bgnbd_rfm["T"].max() * 7)
    assert abs((cut - half) / pd.Timedelta(days=1)) <= 1 and cmp.time_split["observation_end"] == "2020-10-04"
    ev = cmp.evaluations["BG/NBD"]
    assert ev.metrics["holdout_duration"] == pytest.approx((_day(39) - cut).days / 7)
    # the scored purchases are those of the log between the cut and the end of the calibration period
    days = bgnbd_log.drop_duplicates(["customer_id", "date"])
    first = days.groupby("customer_id")["date"].transform("min")
    later = (first <= cut) & (days["date"] > cut) & (days["date"] <= _day(39))
    assert ev.metrics["purchases_actual"] == later.sum()
    assert ev.metrics["n_customers"] == cmp.time_split["customers"] == (days.groupby("customer_id")["date"].min()
                                                                        <= cut).sum()
    # the returned models are fitted on the whole calibration summary
    assert all(m.n_obs_ == len(bgnbd_rfm) for m in cmp.models.values())
    assert any(n.startswith("time split: the models were refitted") for n in cmp.notes)


def test_time_split_needs_the_log_and_a_built_summary(bgnbd_log, bgnbd_rfm):
    with pytest.raises(ConfigError, match="transactions") as e:
        compare_models(bgnbd_rfm, {"BG/NBD": clv.BGNBD()}, criterion="time_split")
    assert e.value.key == "transactions"
    plain = pd.DataFrame(bgnbd_rfm)
    with pytest.raises(ConfigError, match="rfm_summary"):
        compare_models(plain, {"BG/NBD": clv.BGNBD()}, criterion="time_split", transactions=bgnbd_log)
    with pytest.raises(ConfigError, match="split_at"):
        compare_models(bgnbd_rfm, {"BG/NBD": clv.BGNBD()}, criterion="time_split", transactions=bgnbd_log,
                       split_at=1.5)


def test_criterion_is_checked(bgnbd_rfm):
    with pytest.raises(ConfigError, match="criterion") as e:
        compare_models(bgnbd_rfm, {"BG/NBD": clv.BGNBD()}, criterion="holdout")
    assert e.value.key == "criterion"
    with pytest.raises(ConfigError, match="criterion='loo'"):
        compare_models(bgnbd_rfm, {"BG/NBD": clv.BGNBD()}, criterion="loo")


# ---- typed errors, models that cannot be scored, undefined metrics --------------------------------------
class _MustNotFit(clv.BGNBD):
    def fit(self, summary, *args, **kwargs):
        raise AssertionError("a bad argument must be refused before anything is fitted")


@pytest.mark.parametrize(("kwargs", "key", "match"), [
    ({"n_boot": -1}, "n_boot", "n_boot"),
    ({"n_boot": 10.5}, "n_boot", "n_boot"),
    ({"n_boot": True}, "n_boot", "n_boot"),
    ({"interval": 1.0}, "interval", "interval"),
    ({"random_state": "seed"}, "random_state", "random_state"),
    ({"min_difference": -0.1}, "min_difference", "min_difference"),
    ({"min_difference": "1%"}, "min_difference", "min_difference"),
    ({"criteria": [("mea", "min")]}, "criteria", "'mea' is not a holdout metric"),
    ({"criteria": [("mae", "lowest")]}, "criteria", "'abs', 'min' or 'max'"),
    ({"criteria": "mae"}, "criteria", "pairs"),
    ({"criteria": []}, "criteria", "empty"),
    ({"criterion": None}, "criterion", "criterion"),
])
def test_bad_arguments_are_refused_before_fitting(pareto_split, kwargs, key, match):
    with pytest.raises(ConfigError, match=match) as e:
        compare_models(pareto_split, {"BG/NBD": _MustNotFit()}, **kwargs)
    assert e.value.key == key


def test_criteria_the_bootstrap_does_not_recompute_are_not_called_clear(pareto_split, pareto_fit):
    # a rank correlation is not a weighted sum of per-customer values: nothing resampled, so no verdict
    cmp = compare_models(pareto_split, {"BG/NBD": clv.BGNBD(), "Pareto/NBD": pareto_fit}, n_boot=50,
                         criteria=[("purchases_spearman", "max")])
    other = next(n for n in cmp.table.index if n != cmp.recommended)
    assert cmp.recommendation.clear is False and cmp.recommendation.versus == {other: "not assessed"}
    assert "none of the ranking criteria is one the bootstrap recomputes" in cmp.reason
    assert any(n.startswith("not resampled") and "purchases_spearman" in n for n in cmp.notes)
    assert cmp.intervals is not None and "mae" in set(cmp.intervals["metric"])    # intervals are still shown


class _NaNForHeavyBuyers(clv.ParetoNBD):
    """A Pareto/NBD whose conditional expectation is NaN for customers with more than 10 repeat purchases
    (as a numerically broken model would give)."""

    @property
    def math(self):
        from clvmodels.math import paretonbd

        def conditional_expected_purchases(*args):
            out = paretonbd.conditional_expected_purchases(*args)
            x = np.broadcast_to(args[4], np.shape(out))
            return np.where(x > 10, np.nan, out)

        return type("BrokenMath", (), {**{k: staticmethod(getattr(paretonbd, k)) for k in dir(paretonbd)
                                          if callable(getattr(paretonbd, k)) and not k.startswith("_")},
                                       "conditional_expected_purchases": staticmethod(conditional_expected_purchases)})


def test_a_model_that_cannot_be_scored_is_left_out_with_a_warning(pareto_split, pareto_fit):
    heavy = int((pareto_split["frequency"] > 10).sum())
    assert heavy > 0
    broken = _NaNForHeavyBuyers.from_params(**pareto_fit.params_.to_dict())
    with pytest.warns(clv.errors.CLVWarning, match="broken could not be scored"):
        cmp = compare_models(pareto_split, {"broken": broken, "BG/NBD": clv.BGNBD(), "Pareto/NBD": pareto_fit},
                             n_boot=100)
    assert list(cmp.table.index) == ["Pareto/NBD", "BG/NBD"] and "broken" not in cmp.models
    assert any(n.startswith("broken: not scored") and f"{heavy} value(s)" in n for n in cmp.notes)
    assert set(cmp.intervals["model"]) == {"Pareto/NBD", "BG/NBD"}
    assert not cmp.intervals[["value", "lower", "upper", "diff", "diff_lower", "diff_upper"]].isna().any().any()
    with pytest.raises(clv.errors.DataValidationError, match="NaN"), pytest.warns(clv.errors.CLVWarning):
        compare_models(pareto_split, {"broken": broken}, n_boot=10)     # nothing left: the model's own error


def test_metrics_undefined_on_some_resamples_are_said(pareto_split, pareto_fit):
    # eight customers, one of whom buys in the holdout: a resample without them has constant outcomes,
    # so no correlation; (7/8)^8 = 34% of the resamples
    buyers = pareto_split.index[pareto_split["frequency_holdout"] > 0]
    idle = pareto_split.index[pareto_split["frequency_holdout"] == 0]
    tiny = pareto_split.loc[list(buyers[:1]) + list(idle[:7])]
    p = pareto_fit.params_
    other = clv.ParetoNBD.from_params(r=p["r"], alpha=p["alpha"], s=2 * p["s"], beta=p["beta"])
    cmp = compare_models(tiny, {"Pareto/NBD": pareto_fit, "other": other}, n_boot=200, random_state=0)
    notes = [n for n in cmp.notes if "correlation of" in n and "undefined in" in n]
    assert len(notes) == 2
    missing = int(notes[0].split("undefined in ")[1].split(" of")[0])
    assert 0.2 * 200 < missing < 0.5 * 200
    corr = cmp.intervals[cmp.intervals["metric"] == "correlation"]
    assert corr[["lower", "upper"]].notna().all().all()


class _NeedsALongHistory(clv.BGNBD):
    def fit(self, summary, *args, **kwargs):
        if summary["T"].max() < 30:
            raise clv.errors.CLVError("needs 30 weeks of history")
        return super().fit(summary, *args, **kwargs)


def test_a_model_not_fitted_on_the_time_split_is_left_out(bgnbd_log, bgnbd_rfm):
    with pytest.warns(clv.errors.CLVWarning, match="short could not be fitted on the first part of the time split"):
        cmp = compare_models(bgnbd_rfm, {"short": _NeedsALongHistory(), "MBG/NBD": clv.MBGNBD(), "BG/NBD": clv.BGNBD()},
                             transactions=bgnbd_log, criterion="time_split", baseline=False, n_boot=50)
    assert set(cmp.table.index) == {"MBG/NBD", "BG/NBD"} and set(cmp.models) == {"MBG/NBD", "BG/NBD"}
    assert any(n.startswith("short: not fitted on the first part of the time split") for n in cmp.notes)


def test_a_fit_without_a_finite_estimate_is_named_in_the_notes(pareto_split, pareto_fit):
    # as a Pareto/NBD fit on a short window whose s, beta run to infinity reports itself (models/base.py)
    limit = clv.ParetoNBD.from_params(**pareto_fit.params_.to_dict())
    limit.converged_, limit.fit_info_ = False, {"boundary": ["s", "beta"]}
    cmp = compare_models(pareto_split, {"limit": limit, "Pareto/NBD": pareto_fit}, n_boot=20)
    assert any(n.startswith("limit: the fit did not converge") and "s, beta ran to the edge" in n for n in cmp.notes)
    assert not any(n.startswith("Pareto/NBD: the fit") for n in cmp.notes)


# ---- the (M)BG/CNBD-k in the default comparison --------------------------------------------------------
def simulate_regular_log(n: int, k: int, *, r: float, alpha: float, a: float, b: float, weeks: float,
                         birth_weeks: float, seed: int) -> pd.DataFrame:
    """Transaction log of the BG/CNBD-k (Reutterer, Platzer & Schroeder 2021): Erlang-k inter-purchase
    times (Gamma(k) with rate lambda ~ Gamma(r, alpha), as clvmodels.simulate.cnbdk), dropout with
    p ~ Beta(a, b) after each repeat purchase; first purchases uniform over ``birth_weeks``."""
    rng = np.random.default_rng(seed)
    lam, p = rng.gamma(r, 1.0 / alpha, n), rng.beta(a, b, n)
    t = rng.uniform(0.0, birth_weeks, n)
    who, when = [np.arange(n)], [t.copy()]
    alive = np.ones(n, dtype=bool)
    while alive.any():
        t = t + rng.gamma(k, 1.0, n) / lam
        alive &= t < weeks
        who.append(np.flatnonzero(alive))
        when.append(t[alive])
        alive &= rng.uniform(size=n) >= p
    who, when = np.concatenate(who), np.concatenate(when)
    return pd.DataFrame({"customer_id": who,
                         "date": START + pd.to_timedelta(np.floor(when * 7).astype(np.int64), unit="D")})


def test_the_cnbdk_models_join_the_default_comparison_with_litt(cdnow_sample_tx, cdnow_sample_cal):
    without = compare_models(cdnow_sample_cal, spend_model=None, n_boot=0)
    assert set(without.table.index) == {"BG/NBD", "MBG/NBD", "Pareto/NBD"}
    assert any(n.startswith("BG/CNBD-k and MBG/CNBD-k left out: they need a summary built with litt=True")
               for n in without.notes)
    cal = clv.calibration_holdout(cdnow_sample_tx, calibration_end="1997-09-30", observation_end="1998-06-30",
                                  time_unit="W", litt=True)
    cmp = compare_models(cal, spend_model=None, criterion="bic", n_boot=200)
    tab = cmp.table
    assert set(tab.index) == {"BG/NBD", "MBG/NBD", "Pareto/NBD", "BG/CNBD-k", "MBG/CNBD-k"}
    # CDNOW sample: MBG/CNBD-k picks k = 1 with LL -9582.1 (BTYDplus, issue 14), i.e. the MBG/NBD itself;
    # the k chosen by likelihood counts as a fifth parameter in BIC
    assert cmp.models["MBG/CNBD-k"].k_ == 1 and tab.loc["MBG/CNBD-k", "n_params"] == 5
    assert tab.loc["MBG/CNBD-k", "loglik"] == pytest.approx(-9582.1, abs=0.05)
    assert tab.loc["MBG/CNBD-k", "loglik"] == pytest.approx(tab.loc["MBG/NBD", "loglik"], abs=1e-6)
    assert tab.loc["MBG/CNBD-k", "bic"] == pytest.approx(tab.loc["MBG/NBD", "bic"] + math.log(len(cal)), abs=1e-6)
    assert not cmp.recommendation.clear       # four-parameter models within a few BIC points of each other


def test_bic_without_a_holdout_picks_the_regular_model_on_regular_data():
    log = simulate_regular_log(2000, 3, r=1.5, alpha=3.0, a=0.8, b=2.5, weeks=39, birth_weeks=8, seed=5)
    rfm = clv.rfm_summary(log, observation_end=_day(39), amount_col=None, litt=True)
    cmp = compare_models(rfm, {"BG/NBD": clv.BGNBD(), "BG/CNBD-k": clv.BGCNBDk(max_k=5)}, n_boot=300)
    assert cmp.criterion == "bic" and cmp.recommended == "BG/CNBD-k" and cmp.models["BG/CNBD-k"].k_ == 3
    assert cmp.recommendation.clear and cmp.recommendation.versus == {"BG/NBD": "clearly better"}
    iv = cmp.intervals.set_index(["metric", "model"])
    assert iv.loc[("bic", "BG/NBD"), "diff_lower"] > 2


def test_a_likelihood_that_cannot_be_computed_is_left_out_of_bic(cdnow_sample_tx):
    # fitted on a summary with litt, asked for BIC on one without: the model says what it needs, the
    # comparison goes on without it
    cal = clv.calibration_holdout(cdnow_sample_tx, calibration_end="1997-09-30", observation_end="1998-06-30",
                                  time_unit="W", litt=True)
    fitted = {"BG/NBD": clv.BGNBD().fit(cal), "BG/CNBD-k": clv.BGCNBDk(k=2).fit(cal)}
    plain = pd.DataFrame(cal[["frequency", "recency", "T"]])
    cmp = compare_models(plain, fitted, criterion="bic", n_boot=50)
    assert cmp.recommended == "BG/NBD" and cmp.recommendation.versus == {}
    assert any(n.startswith("BG/CNBD-k: no log-likelihood on this summary") and "litt=True" in n for n in cmp.notes)


def test_a_model_and_its_special_case_tie_and_the_simpler_is_recommended(cdnow_sample_tx):
    # the BG/CNBD-k choosing k = 1 is the BG/NBD: their metrics differ in the last bits only, so they tie
    # on every rank, and the model with fewer parameters (k was estimated) comes first, whichever is given first
    cal = clv.calibration_holdout(cdnow_sample_tx, calibration_end="1997-09-30", observation_end="1998-06-30",
                                  time_unit="W", litt=True)
    cmp = compare_models(cal, {"BG/CNBD-k": clv.BGCNBDk(max_k=2), "BG/NBD": clv.BGNBD()}, spend_model=None,
                         n_boot=100)
    tab = cmp.table
    assert cmp.models["BG/CNBD-k"].k_ == 1 and list(tab["n_params"]) == [4, 5]
    ranks = [c for c in tab.columns if c.startswith("rank_")]
    assert (tab.loc["BG/NBD", ranks] == 1.0).all() and (tab.loc["BG/CNBD-k", ranks] == 1.0).all()
    assert list(tab.index) == ["BG/NBD", "BG/CNBD-k"] and cmp.recommended == "BG/NBD"
    assert cmp.recommendation.versus == {"BG/CNBD-k": "not distinguishable"}
