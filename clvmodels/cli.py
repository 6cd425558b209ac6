"""Command line: ``clv run CONFIG``, ``clv validate CONFIG``, ``clv version``.

Errors that are the user's (bad config, bad data) print one clear line naming the key / column
/ customers at fault and exit with status 2; anything else is a bug and shows its traceback.
"""

from __future__ import annotations

import argparse
import json
import sys
import warnings

from . import __version__
from .errors import CLVError, CLVWarning


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="clv", description="clvmodels: probabilistic customer lifetime value.")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")
    r = sub.add_parser("run", help="fit, evaluate and score as a YAML config says; writes a run folder")
    r.add_argument("config", help="path to a run config (YAML), e.g. configs/cdnow.yaml")
    r.add_argument("--output-dir", help="override output.dir of the config")
    v = sub.add_parser("validate", help="check a config and its data without fitting")
    v.add_argument("config")
    e = sub.add_parser("export", help="deliver (or resume delivering) a finished run folder to its CRM targets")
    e.add_argument("run_folder")
    e.add_argument("--dry-run", action="store_true",
                   help="show what would be sent, to where, how many rows and batches, the first rows; send nothing")
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
    from .config import load_config
    from .pipeline import deliver, run, validate

    with warnings.catch_warnings():
        warnings.simplefilter("always", CLVWarning)
        warnings.showwarning = _warning_line
        try:
            if args.command == "validate":
                info = validate(args.config)
                sys.stdout.write(json.dumps(info, indent=2, default=str) + "\n")
                return 0
            if args.command == "export":
                receipts = deliver(args.run_folder, dry_run=args.dry_run)
                sys.stdout.write(json.dumps(receipts, indent=2, default=str) + "\n")
                return 0
            cfg, _ = load_config(args.config)
            if args.output_dir:
                cfg = cfg.model_copy(update={"output": cfg.output.model_copy(update={"dir": args.output_dir})})
            result = run(cfg)
        except CLVError as exc:
            sys.stderr.write(f"error: {type(exc).__name__}: {exc}\n")
            return 2
    _report(result)
    return 0


def _report(result) -> None:
    m = result.manifest
    pm = m["purchase_model"]
    lines = [f"run folder: {result.folder}",
             f"customers: {m['customers']:,}",
             f"{pm['name']}: " + ", ".join(f"{k}={v:.4g}" for k, v in pm["params"].items())
             + f"  loglik={pm['loglik']:.2f}  converged={pm['converged']}"]
    if m.get("spend_model"):
        lines.append("gammagamma: " + ", ".join(f"{k}={v:.4g}" for k, v in m["spend_model"]["params"].items()))
    mt = result.metrics.get("metrics", {}) if result.metrics else {}
    if mt:
        shown = [k for k in ("purchases_actual", "purchases_predicted", "aggregate_error_pct", "mae", "correlation",
                             "clv_top_share_capture") if k in mt]
        lines.append("holdout: " + ", ".join(f"{k}={mt[k]:.4g}" for k in shown))
    t = m["totals"]
    lines.append(f"CLV ({m['forecast']['horizon']} x {m['forecast']['period']}): total {t['clv']:,.0f}, "
                 f"margin-negative customers {t['margin_negative_customers']:,}")
    for receipt in result.receipts:
        lines.append(f"export {receipt.get('target')}: {receipt.get('rows')} rows -> {receipt.get('destination')} "
                     f"({'already delivered' if receipt.get('already_delivered') else 'delivered'})")
    cols = [c for c in ("p_alive", "expected_purchases", "expected_spend", "clv", "clv_lower", "clv_upper", "tier")
            if c in result.scores.columns]
    top = result.scores.sort_values("clv", ascending=False).head(5)[cols]
    lines.append("top customers by CLV:\n" + top.round(3).to_string())
    sys.stdout.write("\n".join(lines) + "\n")


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
