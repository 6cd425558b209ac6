"""The run report: one self-contained page per run folder (clvmodels.report.write_report).

Two small runs on the bundled CDNOW sample, built once for the module: one with a holdout (and
customer ids full of HTML and mathtext characters, a cost per order so that some customers destroy
margin), one without. The page is parsed with html.parser and its numbers compared exactly with
metrics.json, the manifest, the saved models and the scores; then it is opened in a real headless
Chromium (skipped, with the reason, when /usr/bin/chromium is absent).
"""

from __future__ import annotations

import base64
import json
import queue
import shutil
import subprocess
import threading
import time
import warnings
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from clvmodels.errors import ConfigError
from clvmodels.report import NO_HOLDOUT, SECTIONS, write_report
from clvmodels.report._folder import EXACT_FLOATS
from clvmodels.report._numbers import format_number

HOLDOUT_FIGURES = {"tracking", "tracking-cumulative", "conditional-expectations"}
VALUE_FIGURES = {"clv-histogram", "clv-intervals", "rfm-grid", "whale-curve", "value-matrix"}

#: customer ids a browser or matplotlib would misread if they were not escaped
WEIRD = ['<script>alert("x")</script>', "a&b \"q\" 's'", "$\\frac{1}{0}$", "</script><b>bold</b>", "ünï ✓ <!--"]


# ------------------------------------------------------------------------------------------------
# fixtures: two runs, their pages parsed
# ------------------------------------------------------------------------------------------------
class Page(HTMLParser):
    """What the tests read from a page: sections, headings, figures, shown numbers, texts, links."""

    def __init__(self, html: str):
        super().__init__(convert_charrefs=True)
        self.html = html
        self.section = None
        self.sections: dict[str, str] = {}        # id -> its h2 text
        self.figures: dict[str, str] = {}         # data-figure -> img src
        self.numbers: list[dict] = []             # data-key elements: key, format, value, text, section
        self.codes: list[str] = []                # text of <code> elements
        self.urls: list[tuple[str, str, str]] = []   # (tag, attribute, value) of every src / href
        self.scripts: list[dict] = []
        self.holdout_absent = False
        self._capture: list = []                  # [kind, record, text parts]
        self._figure = None
        self.feed(html)
        self.close()
        data = [s for s in self.scripts if s["attrs"].get("id") == "report-data"]
        self.data = json.loads(data[0]["text"]) if data else None

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        for key in ("src", "href"):
            if key in a:
                self.urls.append((tag, key, a[key] or ""))
        if tag == "section":
            self.section = a.get("id")
        if a.get("data-holdout") == "absent":
            self.holdout_absent = True
        if tag == "figure" and "data-figure" in a:
            self._figure = a["data-figure"]
        if tag == "img" and self._figure is not None:
            self.figures[self._figure] = a.get("src", "")
        if tag == "h2":
            self._capture.append(["h2", self.section, []])
        elif tag == "span" and "data-key" in a:
            rec = {"key": a["data-key"], "format": a["data-format"], "value": a["data-value"], "section": self.section}
            self._capture.append(["num", rec, []])
        elif tag == "code":
            self._capture.append(["code", None, []])
        elif tag == "script":
            self._capture.append(["script", {"attrs": a}, []])

    def handle_endtag(self, tag):
        if tag == "figure":
            self._figure = None
        if not self._capture:
            return
        kind, rec, parts = self._capture[-1]
        if (kind, tag) in (("h2", "h2"), ("num", "span"), ("code", "code"), ("script", "script")):
            self._capture.pop()
            text = "".join(parts)
            if kind == "h2":
                self.sections[rec] = text
            elif kind == "num":
                rec["text"] = text
                self.numbers.append(rec)
            elif kind == "code":
                self.codes.append(text)
            else:
                rec["text"] = text
                self.scripts.append(rec)

    def handle_data(self, data):
        for item in self._capture:
            item[2].append(data)

    def shown(self, key: str) -> list[dict]:
        return [n for n in self.numbers if n["key"] == key]

    def value(self, key: str):
        """The number behind ``key``: the JSON block's value (and every element showing it agrees)."""
        return self.data["numbers"][key]


def _log_with_weird_ids():
    """The CDNOW sample with five customers renamed to ids full of HTML / mathtext characters: the
    most frequent recent buyer, made the most valuable customer (amounts x 50), the most frequent
    other buyer, made a margin destroyer (repeat purchases of $0.50 each, with a cost per order of
    3), and three more."""
    import clvmodels as clv

    tx = clv.datasets.cdnow_transactions(sample=True).copy()
    recent = tx[tx["date"] >= tx["date"].max() - pd.Timedelta(days=60)]["customer_id"].value_counts().index[0]
    others = [c for c in tx["customer_id"].value_counts().index if c != recent][:4]
    tx.loc[tx["customer_id"] == recent, "amount"] *= 50
    tx.loc[tx["customer_id"] == others[0], "amount"] = 0.5
    names = dict(zip([recent, *others], WEIRD))
    tx["customer_id"] = tx["customer_id"].map(lambda i: names.get(i, f"c{i}"))
    return tx


def _run(tmp: Path, config: dict, transactions=None) -> Path:
    from clvmodels.pipeline import run

    cfg = {"name": "report-test", "data": {"source": "cdnow_sample"}, "output": {"dir": str(tmp / "runs")}}
    cfg.update(config)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return run(cfg, transactions=transactions).folder


@pytest.fixture(scope="module")
def holdout(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("report-holdout")
    folder = _run(tmp, {"summary": {"calibration_end": "1997-09-30", "observation_end": "1998-06-30"},
                        "forecast": {"n_draws": 20, "cost_per_order": 3.0}}, transactions=_log_with_weird_ids())
    path = write_report(folder)
    return folder, Page(path.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def plain(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("report-plain")
    folder = _run(tmp, {"forecast": {"n_draws": 20}})
    path = write_report(folder)
    return folder, Page(path.read_text(encoding="utf-8"))


def _scores(folder: Path) -> pd.DataFrame:
    return pd.read_csv(folder / "scores.csv", dtype={"customer_id": str}, keep_default_na=False, na_values=[""],
                       **EXACT_FLOATS).set_index("customer_id")


# ------------------------------------------------------------------------------------------------
# structure
# ------------------------------------------------------------------------------------------------
def test_every_section_has_its_heading_and_every_figure_is_an_inline_png(holdout):
    folder, page = holdout
    assert (folder / "report.html").is_file() and not (folder / ".report.html.tmp").exists()
    assert page.sections == dict(SECTIONS)
    assert set(page.figures) == HOLDOUT_FIGURES | VALUE_FIGURES
    assert page.data["figures"] == list(page.figures)        # same figures, same order
    for name, src in page.figures.items():
        prefix = "data:image/png;base64,"
        assert src.startswith(prefix), name
        png = base64.b64decode(src[len(prefix):], validate=True)
        assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 5_000, name
    assert page.data["format"] == "clvmodels.report/1" and page.data["holdout"] is True
    assert page.data["run_id"] == json.loads((folder / "manifest.json").read_text())["run_id"]


def test_the_page_references_nothing_outside_itself(holdout, plain):
    for _, page in (holdout, plain):
        assert "http://" not in page.html and "https://" not in page.html
        assert "//" not in " ".join(v for _, _, v in page.urls if not v.startswith("data:"))
        for tag, attr, value in page.urls:
            if attr == "src":
                assert value.startswith("data:image/png;base64,"), (tag, value[:40])
            else:
                assert value.startswith("#") and value[1:] in dict(SECTIONS), (tag, value)
        # the only script is the JSON data block (no JavaScript), and a CSP forbids any fetch
        assert [s["attrs"].get("type") for s in page.scripts] == ["application/json"]
        assert "default-src 'none'" in page.html and "<link" not in page.html and "@import" not in page.html


# ------------------------------------------------------------------------------------------------
# numbers: shown = formatted from the exact value, and the value = the run folder's
# ------------------------------------------------------------------------------------------------
def test_every_shown_number_is_its_exact_value_formatted(holdout, plain):
    for _, page in (holdout, plain):
        assert len(page.numbers) > 100
        for n in page.numbers:
            value = page.value(n["key"])
            assert page.data["formats"][n["key"]] == n["format"]
            if value is None:
                assert n["value"] == "" and n["text"] == "n/a", n
                continue
            assert float(n["value"]) == value, n          # data-value round-trips the JSON value exactly
            assert n["text"] == format_number(value, n["format"]), n
        # every number in the JSON block is shown somewhere
        assert set(page.data["numbers"]) == {n["key"] for n in page.numbers}


def test_holdout_numbers_equal_metrics_json(holdout):
    folder, page = holdout
    doc = json.loads((folder / "metrics.json").read_text())
    m = doc["metrics"]
    shown = {k.removeprefix("holdout."): v for k, v in page.data["numbers"].items() if k.startswith("holdout.")
             and k.count(".") == 1}
    for key in ("aggregate_error_pct", "mae", "rmse", "correlation", "purchases_top_capture", "revenue_top_capture",
                "clv_top_capture", "purchases_actual", "purchases_predicted", "n_customers", "holdout_duration"):
        assert shown[key] == m[key], key                  # exact, not approximately
    # as a reader sees them: e.g. the MAE is metrics.json's mae rounded to 3 decimals
    assert [n["text"] for n in page.shown("holdout.mae")] == [f"{m['mae']:.3f}"] * 2     # table and the cards
    assert page.shown("holdout.aggregate_error_pct")[0]["text"] == f"{m['aggregate_error_pct']:+.1f}%"
    assert page.shown("holdout.correlation")[0]["text"] == f"{m['correlation']:.3f}"
    assert page.shown("holdout.rmse")[0]["text"] == f"{m['rmse']:.3f}"
    assert page.shown("holdout.revenue_top_capture")[0]["text"] == f"{100 * m['revenue_top_capture']:.1f}%"
    for i, rec in enumerate(doc["conditional_expectations"]):
        for col in ("n_customers", "actual", "predicted"):
            assert page.value(f"holdout.conditional.{i}.{col}") == rec[col]


def test_data_report_and_models_equal_the_manifest_and_the_saved_models(holdout):
    folder, page = holdout
    manifest = json.loads((folder / "manifest.json").read_text())
    for fit, facts in (("scoring", manifest["summary"]), ("evaluation", manifest["evaluation_summary"])):
        rep = facts["report"]
        for key in ("n_rows", "n_rows_after_observation_end", "n_rows_dropped_returns", "n_customers_dropped",
                    "n_purchases_dropped_net_nonpositive", "n_customers_first_purchase_after_end"):
            assert page.value(f"data.{fit}.{key}") == rep[key]
        assert page.value(f"data.{fit}.rows_kept") == (rep["n_rows"] - rep["n_rows_after_observation_end"]
                                                      - rep["n_rows_dropped_returns"])
        assert page.value(f"data.{fit}.customers") == facts["customers"]
    assert page.value("data.customers_scored") == manifest["customers"]
    assert manifest["scoring"]["as_of"] in page.html and "W (week)" in page.html
    for fit, sub in (("scoring", ""), ("evaluation", "evaluation/")):
        for role in ("purchase", "spend"):
            saved = json.loads((folder / "models" / f"{sub}{role}.json").read_text())
            for p, v in saved["params"].items():
                assert page.value(f"models.{fit}.{role}.{p}.estimate") == v
                assert page.value(f"models.{fit}.{role}.{p}.lower_95") < v < page.value(
                    f"models.{fit}.{role}.{p}.upper_95")
            assert page.value(f"models.{fit}.{role}.loglik") == saved["loglik"]
    assert page.value("models.scoring.purchase.loglik") == manifest["purchase_model"]["loglik"]


def test_value_sections_equal_the_scores(holdout):
    from clvmodels.segments import historical_margin, whale_curve

    folder, page = holdout
    s = _scores(folder)
    manifest = json.loads((folder / "manifest.json").read_text())
    assert page.value("clv.total") == manifest["totals"]["clv"] == float(s["clv"].sum())
    assert page.value("clv.median") == float(np.median(s["clv"]))
    n = len(s)
    for tier, count in s["tier"].value_counts().items():
        assert page.value(f"tiers.{tier.replace('-', '_')}.customers") == count
        assert page.value(f"tiers.{tier.replace('-', '_')}.share_of_customers") == count / n
    # the customers whose intervals are shown: their rank, CLV and interval as in the scores
    ids = page.data["interval_customers"]
    assert ids[:5] == list(s.sort_values("value_rank").index[:5])
    for i, cid in enumerate(ids):
        row = s.loc[cid]
        assert page.value(f"clv.intervals.{i}.rank") == row["value_rank"]
        for col in ("clv", "clv_lower", "clv_upper", "p_alive"):
            assert page.value(f"clv.intervals.{i}.{col}") == row[col]
    # RFM grid: customers per (R, F) cell
    counts = pd.crosstab(s["r_score"], s["f_score"])
    for r in counts.index:
        for f in counts.columns:
            assert page.value(f"rfm.r{r}.f{f}.customers") == counts.loc[r, f]
    # whale curve and destroyers, with the run's margin (the default, 1) and cost per order
    assert (manifest["forecast"]["margin"], manifest["forecast"]["cost_per_order"]) == (1.0, 3.0)
    hist = historical_margin(s, margin=1.0, cost_per_order=3.0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        whale = whale_curve(historical=hist, predicted=s["clv"].rename("predicted"))
    for measure in ("historical", "predicted"):
        for key in ("customer_share_for_100pct", "n_destroyers", "total_margin", "peak_share"):
            assert page.value(f"whale.{measure}.{key}") == whale.summary.loc[measure, key]
        assert page.data["destroyers"][measure] == [str(i) for i in whale.destroyers[measure][:10]]
    assert page.value("whale.historical.n_destroyers") > 0
    # current vs future value: medians split, ties at the median are low
    cur, fut = hist.to_numpy(), s["clv"].to_numpy()
    hi_c, hi_f = cur > np.median(cur), fut > np.median(fut)
    expected = {"keep": hi_c & hi_f, "grow": ~hi_c & hi_f, "harvest": hi_c & ~hi_f, "fix_or_let_go": ~hi_c & ~hi_f}
    for q, sel in expected.items():
        assert page.value(f"matrix.{q}.customers") == int(sel.sum())
        assert page.value(f"matrix.{q}.share_of_customers") == int(sel.sum()) / n
        assert page.value(f"matrix.{q}.total_clv") == float(fut[sel].sum())
    assert sum(page.value(f"matrix.{q}.customers") for q in expected) == n
    for name in ("keep", "grow", "harvest", "fix or let go"):
        assert f'data-quadrant="{name}"' in page.html


def test_customer_ids_are_escaped(holdout):
    folder, page = holdout
    # the raw ids never appear as markup ...
    assert "<script>alert" not in page.html and "</script><b>" not in page.html and "<b>bold" not in page.html
    assert page.html.count("<script") == 1
    # ... but read back as text exactly as they are
    shown_ids = set(page.codes)
    top = _scores(folder).sort_values("value_rank").index[0]
    assert top == WEIRD[0] and top in shown_ids
    destroyer = WEIRD[1]
    assert destroyer in page.data["destroyers"]["historical"] and destroyer in shown_ids
    assert top in page.data["interval_customers"]


# ------------------------------------------------------------------------------------------------
# runs without a holdout, Bayesian models, errors
# ------------------------------------------------------------------------------------------------
def test_a_run_without_holdout_says_so_and_has_no_holdout_figures(plain):
    folder, page = plain
    assert not (folder / "metrics.json").exists()
    assert page.sections == dict(SECTIONS)               # the section is there, with its heading ...
    assert page.holdout_absent and NO_HOLDOUT in page.html
    assert set(page.figures) == VALUE_FIGURES            # ... but none of its figures
    assert page.data["holdout"] is False
    assert not [k for k in page.data["numbers"] if k.startswith("holdout.")]


def test_bayesian_models_show_posterior_mean_hdi_rhat_and_ess(plain, tmp_path):
    az = pytest.importorskip("arviz", reason="Bayesian model files need ArviZ (the [bayes] extra)")
    import clvmodels

    folder = tmp_path / "bayes-run"
    shutil.copytree(plain[0], folder)
    rng = np.random.default_rng(0)
    post = {"r": rng.normal(0.24, 0.01, (2, 300)), "alpha": rng.normal(4.4, 0.2, (2, 300)),
            "a": rng.normal(0.8, 0.05, (2, 300)),
            "b": rng.normal(2.4, 0.2, (2, 300)) + np.array([[0.0], [0.5]])}     # two chains that disagree on b
    idata = az.from_dict(posterior=post, sample_stats={"diverging": np.zeros((2, 300), dtype=bool)})
    idata.posterior.attrs.update({"clvmodels_model": "BGNBD", "clvmodels_version": clvmodels.__version__,
                                  "clvmodels_format": "clvmodels.bayes/1", "clvmodels_sampler": "nuts:pymc",
                                  "clvmodels_config": json.dumps({"params": {}, "time_unit": "W", "n_obs": 2357})})
    (folder / "models" / "purchase.json").unlink()
    idata.to_netcdf(str(folder / "models" / "purchase.nc"))
    page = Page(write_report(folder).read_text(encoding="utf-8"))
    summary = clvmodels.load_model(folder / "models" / "purchase.nc").summary(round_to="none")
    for p in ("r", "alpha", "a", "b"):
        assert page.value(f"models.scoring.purchase.{p}.mean") == summary.loc[p, "mean"]
        assert page.value(f"models.scoring.purchase.{p}.r_hat") == summary.loc[p, "r_hat"]
        assert page.value(f"models.scoring.purchase.{p}.ess_bulk") == summary.loc[p, "ess_bulk"]
        assert page.value(f"models.scoring.purchase.{p}.hdi_lower") == summary.loc[p, "hdi_3%"]
    assert page.value("models.scoring.purchase.divergences") == 0
    assert "R-hat above 1.01" in page.html and "check b" in page.html
    assert page.value("models.scoring.spend.p.estimate") is not None      # the MLE spend model as before


def test_a_clv_score_folder_renders_without_holdout_and_names_the_run_it_scored_with(plain, tmp_path):
    import clvmodels as clv
    from clvmodels.pipeline import load_run

    tx = clv.datasets.cdnow_transactions(sample=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = load_run(plain[0]).score(tx[tx["date"] <= "1998-03-31"], output_dir=tmp_path / "scored")
    page = Page(write_report(result.folder).read_text(encoding="utf-8"))
    assert page.sections == dict(SECTIONS) and set(page.figures) == VALUE_FIGURES and page.holdout_absent
    assert page.data["as_of"] == "1998-03-31" and plain[0].name in page.codes
    assert page.value("clv.total") == result.manifest["totals"]["clv"]
    saved = json.loads((plain[0] / "models" / "purchase.json").read_text())
    assert page.value("models.scoring.purchase.r.estimate") == saved["params"]["r"]      # the run's models


def test_a_scoring_folder_with_only_a_manifest_and_parquet_scores_renders_every_section(plain, tmp_path):
    folder = tmp_path / "scoring"
    folder.mkdir()
    shutil.copy(plain[0] / "manifest.json", folder)
    scores = _scores(plain[0])
    scores.to_parquet(folder / "scores.parquet")
    page = Page(write_report(folder).read_text(encoding="utf-8"))
    assert page.sections == dict(SECTIONS) and set(page.figures) == VALUE_FIGURES
    assert "No saved models in this folder" in page.html and page.holdout_absent
    assert page.value("clv.total") == float(scores["clv"].sum())
    # a bare table of CLV: the sections without their columns say what is missing
    folder2 = tmp_path / "bare"
    folder2.mkdir()
    shutil.copy(plain[0] / "manifest.json", folder2)
    scores[["clv"]].to_csv(folder2 / "scores.csv")
    page = Page(write_report(folder2).read_text(encoding="utf-8"))
    assert page.sections == dict(SECTIONS) and set(page.figures) == {"clv-histogram", "whale-curve"}
    for text in ("No CLV intervals", "No value tiers", "No RFM scores", "No current-vs-future matrix"):
        assert text in page.html


def test_write_report_needs_a_run_folder(tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        write_report(tmp_path / "nope")
    with pytest.raises(ConfigError, match="manifest.json"):
        write_report(tmp_path)
    (tmp_path / "manifest.json").write_text("{}")
    with pytest.raises(ConfigError, match="no scores"):
        write_report(tmp_path)
    pd.DataFrame({"customer_id": ["a"], "p_alive": [0.5]}).to_csv(tmp_path / "scores.csv", index=False)
    with pytest.raises(ConfigError, match="no clv column"):
        write_report(tmp_path)


# ------------------------------------------------------------------------------------------------
# a real browser
# ------------------------------------------------------------------------------------------------
CHROMIUM = shutil.which("chromium") or ("/usr/bin/chromium" if Path("/usr/bin/chromium").is_file() else None)
needs_chromium = pytest.mark.skipif(CHROMIUM is None, reason="headless Chromium (/usr/bin/chromium) is not "
                                    "installed: apt-get install -y chromium")


def _chromium(profile: Path, *args: str) -> list[str]:
    return [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
            "--disable-component-update", "--disable-sync", "--no-first-run", f"--user-data-dir={profile}", *args]


@needs_chromium
@pytest.mark.parametrize("which", ["holdout", "plain"])
def test_chromium_renders_every_section_and_figure(which, request, tmp_path):
    folder, page = request.getfixturevalue(which)
    out = subprocess.run(_chromium(tmp_path / "profile", "--dump-dom", (folder / "report.html").as_uri()),
                         check=False, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    dom = Page(out.stdout)
    assert dom.sections == dict(SECTIONS)
    assert set(dom.figures) == set(page.figures) and all(src == page.figures[k] for k, src in dom.figures.items())
    assert dom.data == page.data
    assert (NO_HOLDOUT in out.stdout) == (which == "plain")


@needs_chromium
def test_chromium_screenshot_is_not_blank(holdout, tmp_path):
    import matplotlib.image as mpimg

    folder, _ = holdout
    shot = tmp_path / "report.png"
    out = subprocess.run(_chromium(tmp_path / "profile", "--hide-scrollbars", f"--screenshot={shot}",
                                   "--window-size=1280,4000", (folder / "report.html").as_uri()),
                         check=False, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0 and shot.is_file(), out.stderr[-2000:]
    img = mpimg.imread(shot)[..., :3]
    assert img.shape[:2] == (4000, 1280)
    gray = img.mean(axis=2)
    assert gray.std() > 0.05                              # not one colour
    assert (gray < 0.5).mean() > 0.01                     # text and figures, not an empty page
    rows_with_ink = (gray < 0.9).any(axis=1).mean()
    assert rows_with_ink > 0.5                            # content down the page, not just a header


class _DevTools:
    """A minimal Chrome DevTools Protocol client over one websocket (loopback only)."""

    def __init__(self, url: str):
        import websocket

        self.ws = websocket.create_connection(url, timeout=30, suppress_origin=True)
        self.next_id = 0
        self.events: list[dict] = []

    def send(self, method: str, params: dict | None = None, session: str | None = None, timeout: float = 30.0):
        self.next_id += 1
        msg = {"id": self.next_id, "method": method, "params": params or {}}
        if session:
            msg["sessionId"] = session
        self.ws.send(json.dumps(msg))
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            reply = json.loads(self.ws.recv())
            if reply.get("id") == self.next_id:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                return reply.get("result", {})
            self.events.append(reply)
        raise TimeoutError(method)

    def wait_for(self, method: str, timeout: float = 60.0) -> dict:
        deadline = time.monotonic() + timeout
        while True:
            for event in self.events:
                if event.get("method") == method:
                    return event
            if time.monotonic() > deadline:
                raise TimeoutError(method)
            self.events.append(json.loads(self.ws.recv()))


@needs_chromium
def test_chromium_console_has_no_errors_and_the_page_fetches_nothing(holdout, tmp_path):
    pytest.importorskip("websocket", reason="the DevTools check needs websocket-client (the [test] extra)")
    folder, page = holdout
    proc = subprocess.Popen(_chromium(tmp_path / "profile", "--remote-debugging-port=0", "about:blank"),
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    lines: queue.Queue = queue.Queue()
    threading.Thread(target=lambda: [lines.put(line) for line in proc.stderr], daemon=True).start()
    try:
        url, deadline = None, time.monotonic() + 60
        while url is None and time.monotonic() < deadline:
            try:
                line = lines.get(timeout=1)
            except queue.Empty:
                continue
            if "DevTools listening on " in line:
                url = line.split("DevTools listening on ", 1)[1].strip()
        assert url is not None and url.startswith("ws://127.0.0.1:"), "Chromium did not open its DevTools port"
        cdp = _DevTools(url)
        target = cdp.send("Target.createTarget", {"url": "about:blank"})["targetId"]
        session = cdp.send("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
        for domain in ("Runtime", "Log", "Network", "Page"):
            cdp.send(f"{domain}.enable", session=session)
        cdp.events.clear()
        cdp.send("Page.navigate", {"url": (folder / "report.html").as_uri()}, session=session)
        cdp.wait_for("Page.loadEventFired")
        check = cdp.send("Runtime.evaluate", {"returnByValue": True, "expression": """(() => ({
            headings: [...document.querySelectorAll('section > h2')].map(h => h.textContent),
            figures: [...document.querySelectorAll('figure[data-figure] img')].map(
                img => [img.closest('figure').dataset.figure, img.complete && img.naturalWidth > 0]),
            height: document.documentElement.scrollHeight}))()"""}, session=session)["result"]["value"]
        cdp.send("Browser.close")
    finally:
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    errors = [e for e in cdp.events if e.get("method") == "Runtime.exceptionThrown"
              or (e.get("method") == "Runtime.consoleAPICalled" and e["params"]["type"] in ("error", "assert"))
              or (e.get("method") == "Log.entryAdded" and e["params"]["entry"]["level"] == "error")]
    assert errors == []
    fetched = [e["params"]["request"]["url"] for e in cdp.events if e.get("method") == "Network.requestWillBeSent"]
    assert all(u.startswith(("file://", "data:")) for u in fetched), fetched
    assert check["headings"] == [title for _, title in SECTIONS]
    assert {name for name, _ in check["figures"]} == set(page.figures)
    assert all(decoded for _, decoded in check["figures"]), check["figures"]      # every PNG decoded
    assert check["height"] > 4000
