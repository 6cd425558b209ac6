"""Command line: ``clv run``, ``clv validate``, ``clv score``, ``clv export``, ``clv version``.

Errors that are the user's (bad config, bad data, a wrong folder) print one clear paragraph naming
the key / column / customers at fault and exit with status 2; anything else is a bug and shows its
traceback. A live progress display appears on a terminal (never in a pipe or a log file, and never
with ``--quiet``, which also keeps warnings and the summary lines out: errors only, for cron).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import warnings

from . import __version__
from .errors import CLVError, CLVWarning
from .progress import progress_for


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="clv", description="clvmodels: probabilistic customer lifetime value.")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")

    def overrides(cmd):
        cmd.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY.PATH=VALUE",
                         help="override a config value (repeatable), e.g. --set forecast.horizon=24")

    r = sub.add_parser("run", help="fit, evaluate and score as a YAML config says; writes a run folder")
    r.add_argument("config", help="path to a run config (YAML), e.g. configs/cdnow.yaml")
    r.add_argument("--output-dir", help="override output.dir of the config")
    overrides(r)
    r.add_argument("--quiet", action="store_true", help="no progress, no warnings, no summary: errors only")
    r.add_argument("--dry-run", action="store_true", help="check the config and the data and print the plan; "
                                                          "fit, write and deliver nothing")
    v = sub.add_parser("validate", help="check a config and its data without fitting")
    v.add_argument("config")
    overrides(v)
    s = sub.add_parser("score", help="score new transactions with a finished run's saved models (no refit)")
    s.add_argument("run_folder")
    s.add_argument("--transactions", required=True, help="CSV or Parquet log with the run's columns")
    s.add_argument("--as-of", help="score as of this day (default: the log's last day)")
    s.add_argument("--output-dir", help="where the scoring folder goes (default: the run's output.dir)")
    s.add_argument("--quiet", action="store_true", help="errors only")
    e = sub.add_parser("export", help="deliver (or resume delivering) a finished run folder to its CRM targets")
    e.add_argument("run_folder")
    e.add_argument("--dry-run", action="store_true",
                   help="show what would be sent, to where, how many rows and batches, the first rows; send nothing")
    e.add_argument("--quiet", action="store_true", help="errors only")
    sub.add_parser("version", help="print the package version")
    return p


def _warning_line(message, category, filename, lineno, file=None, line=None):
    sys.stderr.write(f"warning: {category.__name__}: {message}\n")


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.command is None:
        _parser().print_help()
        return 0
    if args.command == "version":
        sys.stdout.write(f"clvmodels {__version__}\n")
        return 0
    quiet = getattr(args, "quiet", False)
    before = os.environ.get("CLVMODELS_QUIET")
    if quiet:       # errors only, also from a Spark session the run starts (clvmodels.spark.start_session)
        os.environ["CLVMODELS_QUIET"] = "1"
    try:
        return _main(args, quiet)
    finally:
        if quiet and before is None:
            os.environ.pop("CLVMODELS_QUIET", None)


def _main(args, quiet: bool) -> int:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore" if quiet else "always", CLVWarning)
        if quiet:
            warnings.simplefilter("ignore")
        warnings.showwarning = _warning_line
        try:
            with progress_for(enabled=not quiet) as progress:
                result = _command(args, progress)
        except CLVError as exc:
            sys.stderr.write(f"error: {type(exc).__name__}: {' '.join(str(exc).split())}\n")
            return 2
    if result is not None and not quiet:
        sys.stdout.write(result if isinstance(result, str) else _summary_lines(result))
    return 0


def _command(args, progress):
    from .config import load_config
    from .pipeline import deliver, plan_run, run, score_run, validate

    if args.command == "validate":
        cfg, _ = load_config(args.config, args.overrides)
        return json.dumps(validate(cfg), indent=2, default=str) + "\n"
    if args.command == "export":
        return json.dumps(deliver(args.run_folder, dry_run=args.dry_run, progress=progress), indent=2,
                          default=str) + "\n"
    if args.command == "score":
        return score_run(args.run_folder, args.transactions, as_of=args.as_of, output_dir=args.output_dir,
                         progress=progress)
    cfg, _ = load_config(args.config, args.overrides)
    if args.output_dir:
        cfg = cfg.model_copy(update={"output": cfg.output.model_copy(update={"dir": args.output_dir})})
    if args.dry_run:
        return json.dumps(plan_run(cfg), indent=2, default=str) + "\n"
    return run(cfg, progress=progress)


def _summary_lines(result) -> str:
    m = result.manifest
    pm = m["purchase_model"]
    loglik = "" if pm["loglik"] is None else f"  loglik={pm['loglik']:.2f}"
    lines = [f"{'scoring' if m.get('scored_from') else 'run'} folder: {result.folder}",
             f"customers: {m['customers']:,} as of {m['scoring']['as_of']}",
             f"{pm['name']} ({pm['method']}): " + ", ".join(f"{k}={v:.4g}" for k, v in pm["params"].items())
             + f"{loglik}  converged={pm['converged']}"]
    if m.get("spend_model"):
        sm = m["spend_model"]
        lines.append(f"{sm['name']} ({sm['method']}): " + ", ".join(f"{k}={v:.4g}" for k, v in sm["params"].items()))
    mt = result.metrics.get("metrics", {}) if result.metrics else {}
    if mt:
        shown = [k for k in ("purchases_actual", "purchases_predicted", "aggregate_error_pct", "mae", "correlation",
                             "clv_top_capture") if k in mt]
        lines.append("holdout: " + ", ".join(f"{k}={mt[k]:.4g}" for k in shown))
    t = m["totals"]
    lines.append(f"CLV ({m['forecast']['horizon']} x {m['forecast']['period']}): total {t['clv']:,.0f}, "
                 f"margin-negative customers {t['margin_negative_customers']:,}")
    if result.folder is not None and (result.folder / "report.html").exists():
        lines.append(f"report: {result.folder / 'report.html'}")
    if result.tracking:
        lines.append(f"MLflow: experiment {result.tracking['experiment']!r}, run {result.tracking['run_id']}, "
                     f"scorer {result.tracking['model_uri']}")
    for receipt in result.receipts:
        lines.append(f"export {receipt.get('target')}: {receipt.get('rows')} rows -> {receipt.get('destination')} "
                     f"({'already delivered' if receipt.get('already_delivered') else 'delivered'})")
    cols = [c for c in ("p_alive", "expected_purchases", "expected_spend", "clv", "clv_lower", "clv_upper", "tier")
            if c in result.scores.columns]
    lines.append("top customers by CLV:\n" + _top_customers(result.scores, cols).round(3).to_string())
    return "\n".join(lines) + "\n"


def _top_customers(scores, cols: list[str], n: int = 5):
    """The ``n`` customers of highest CLV: from a pandas table, or from a Spark one (``data.spark_mode:
    distributed``) by Spark, collecting those ``n`` rows only."""
    import pandas as pd

    if isinstance(scores, pd.DataFrame):
        return scores.sort_values("clv", ascending=False).head(n)[cols]
    from pyspark.sql import functions as F

    top = scores.orderBy(F.col("clv").desc(), F.col("customer_id")).limit(n).select("customer_id", *cols)
    return top.toPandas().set_index("customer_id")


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
