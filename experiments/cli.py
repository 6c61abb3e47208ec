"""Command line: ``python -m experiments run|charts|compare|sensitivity|discover|list|...``.

Subcommands: run, charts, compare, sensitivity, discover, list, validate, reference,
dashboard (``python -m experiments -h``).

Bad arguments or configs exit with status 2 and one ``error: ...`` line on
stderr; failed runs give status 1.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import NoReturn

from experiments.config import ConfigError

CONFIG_DIR = Path(__file__).resolve().parent / "configs"


class _Parser(argparse.ArgumentParser):
    """An argparse parser whose errors are one line, not usage plus message."""

    def error(self, message: str) -> NoReturn:
        raise ConfigError(message)


def build_parser() -> argparse.ArgumentParser:
    """Return the argument parser of ``python -m experiments``."""
    parser = _Parser(prog="python -m experiments", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    run = sub.add_parser("run", help="run an experiment config")
    run.add_argument("config", help="experiment config (TOML)")
    run.add_argument("--out", help="results folder (default: results/<experiment name>)")
    run.add_argument(
        "--workers", type=int, help="worker processes (default: CPU count; 1 = serial)"
    )
    run.add_argument(
        "--resume", action="store_true", help="finish a folder made by the same config"
    )
    run.add_argument("--force", action="store_true", help="overwrite the results in the folder")
    run.add_argument("--quiet", action="store_true", help="no progress bar")
    run.add_argument(
        "--no-charts", action="store_true", help="skip the figures (draw later with charts)"
    )
    run.add_argument(
        "--scheduler",
        metavar="ADDRESS",
        help="run on a Dask cluster: tcp://HOST:PORT of a running scheduler, or 'local' "
        "to start one with --workers processes (needs the cluster extra)",
    )
    charts = sub.add_parser("charts", help="redraw every figure of a results folder from its files")
    charts.add_argument("dir", help="results folder")
    compare = sub.add_parser(
        "compare",
        help="compare policies, scenarios or sweep points, paired by replication "
        "(--by policy without --metrics also writes DIR/comparison.csv)",
    )
    compare.add_argument("dir", help="results folder")
    compare.add_argument(
        "--by",
        default="policy",
        help="what to compare: policy (within each scenario and sweep point; default), "
        "scenario (within each policy and point) or point (sweep points, within each "
        "scenario and policy)",
    )
    compare.add_argument(
        "--baseline",
        help="the policy, scenario or point the others are compared against (default: the "
        "config's first); a point as NAME=VALUE[,NAME=VALUE...], e.g. policy.max_dti=0.3",
    )
    compare.add_argument(
        "--metrics",
        help="comma-separated summary or derived metrics (default: the standard six and "
        "the config's derived metrics)",
    )
    compare.add_argument("--format", default="md", help="output format: md (default), csv or latex")
    compare.add_argument("--out", help="write the table to this file instead of printing it")
    sensitivity = sub.add_parser(
        "sensitivity",
        help="Morris mu*/sigma or Sobol' S1/ST per metric of a folder run with [sample] "
        "method = 'morris' or 'sobol_indices' (DIR/sensitivity.csv, .md, figures/)",
    )
    sensitivity.add_argument("dir", help="results folder")
    sensitivity.add_argument(
        "--metric",
        action="append",
        metavar="METRIC",
        help="summary metric to analyse (repeat for several; default: bad_debt_loss_rate, "
        "peak_overdue_rate, mean_overdue_rate, peak_npl_rate, approval_rate, profit)",
    )
    discover = sub.add_parser(
        "discover",
        help="PRIM boxes: which parameter ranges give the bad runs (DIR/discover.csv, .md)",
    )
    discover.add_argument("dir", help="results folder")
    discover.add_argument("--metric", required=True, help="summary metric that defines bad runs")
    bad = discover.add_mutually_exclusive_group(required=True)
    bad.add_argument(
        "--above-quantile", type=float, metavar="Q", help="bad: metric above its Q quantile"
    )
    bad.add_argument("--above-value", type=float, metavar="X", help="bad: metric above X")
    bad.add_argument(
        "--below-quantile", type=float, metavar="Q", help="bad: metric below its Q quantile"
    )
    bad.add_argument("--below-value", type=float, metavar="X", help="bad: metric below X")
    discover.add_argument(
        "--min-density",
        type=float,
        default=0.8,
        metavar="D",
        help="choose the box of highest coverage whose share of bad runs is at least D "
        "(default 0.8)",
    )
    sub.add_parser("list", help="shipped configs, scenario presets and policy presets")
    validate = sub.add_parser(
        "validate",
        help="measure the stylized facts; write validation.md and figures/ into the results "
        "folder (--update-docs copies them into docs/)",
    )
    validate.add_argument(
        "config", nargs="?", default=str(CONFIG_DIR / "validation.toml"), help="validation config"
    )
    validate.add_argument("--out", help="results folder (default: results/<experiment name>)")
    validate.add_argument("--workers", type=int, help="worker processes (default: CPU count)")
    validate.add_argument(
        "--doc",
        default="docs/validation.md",
        help="where --update-docs copies the report (figures go to validation/ beside it)",
    )
    validate.add_argument("--force", action="store_true", help="rerun instead of resuming")
    validate.add_argument(
        "--update-docs",
        action="store_true",
        help="copy the report and figures of a finished validation into --doc (no simulation)",
    )
    reference = sub.add_parser(
        "reference", help="check the quickstart results against results/reference/"
    )
    reference.add_argument(
        "--update", action="store_true", help="regenerate the reference (a deliberate change)"
    )
    calibrate = sub.add_parser(
        "calibrate", help="fit free parameters to targets ([calibration] table of a config)"
    )
    calibrate.add_argument("config", help="calibration config (TOML)")
    calibrate.add_argument("--out", help="results folder (default: results/<experiment name>)")
    calibrate.add_argument("--workers", type=int, help="worker processes (default: CPU count)")
    calibrate.add_argument(
        "--write-defaults",
        action="store_true",
        help="write the fitted values as the model's defaults (model/calibrated.py) and the "
        "record to docs/calibration.md",
    )
    dashboard = sub.add_parser("dashboard", help="serve the interactive dashboard (solara)")
    dashboard.add_argument("--host", default="127.0.0.1", help="address (default: 127.0.0.1)")
    dashboard.add_argument("--port", type=int, default=8765, help="port (default: 8765)")
    return parser


def _results_dir(path: str) -> Path:
    from experiments import store

    folder = Path(path)
    for name in (store.MANIFEST, "summary.parquet"):
        if not (folder / name).is_file():
            raise ConfigError(f"argument dir: '{folder}' is not a results folder (no {name})")
    return folder


def _run(args: argparse.Namespace) -> int:
    from experiments.config import load_config
    from experiments.runner import run_experiment

    if args.workers is not None and args.workers < 1:
        raise ConfigError(f"argument --workers must be >= 1, got {args.workers}")
    config = load_config(args.config)
    report = run_experiment(
        config,
        out_dir=args.out,
        workers=args.workers,
        resume=args.resume,
        force=args.force,
        progress=not args.quiet,
        source=Path(args.config).read_text(encoding="utf-8"),
        draw=not args.no_charts,
        scheduler=args.scheduler,
    )
    print(report.text())
    return 1 if report.failed else 0


def _charts(args: argparse.Namespace) -> int:
    from experiments.charts import draw_all

    paths = draw_all(_results_dir(args.dir))
    print(f"{len(paths)} figure files written to {Path(args.dir) / 'figures'}")
    return 0


def _point_baseline(text: str, params: list[str], points: list[str]) -> str:
    """The label (:func:`experiments.analysis.point_label`) of the point ``NAME=VALUE,...``."""
    given: dict[str, str] = {}
    for part in text.split(","):
        name, sep, value = part.partition("=")
        if not sep or name.strip() not in params:
            raise ConfigError(
                f"argument --baseline: '{text}' is not a sweep point; give "
                f"{', '.join(p + '=VALUE' for p in params)}"
            )
        given[name.strip()] = value.strip().lower()
    if set(given) != set(params):
        raise ConfigError(
            f"argument --baseline: give a value for each swept parameter: {', '.join(params)}"
        )
    for point in points:
        values = dict(p.split("=", 1) for p in point.split(", "))
        if all(_same_value(values[k], v) for k, v in given.items()):
            return point
    shown = "; ".join(points[:10]) + ("; ..." if len(points) > 10 else "")
    raise ConfigError(f"argument --baseline: no sweep point {text}; points: {shown}")


def _same_value(stored: str, given: str) -> bool:
    if stored in ("true", "false") or given in ("true", "false"):
        return stored == given
    try:
        return abs(float(stored) - float(given)) <= 1e-9 * max(1.0, abs(float(stored)))
    except ValueError:
        return False


def _compare(args: argparse.Namespace) -> int:
    from experiments import store
    from experiments.analysis import COMPARE_BY, COMPARED_METRICS, SUMMARY_METRICS, compare
    from experiments.export import FORMATS, render
    from experiments.inputs import read_config, read_summary
    from experiments.labels import NameTable

    if args.by not in COMPARE_BY:
        raise ConfigError(f"argument --by must be one of {', '.join(COMPARE_BY)}, got '{args.by}'")
    if args.format not in FORMATS:
        raise ConfigError(
            f"argument --format must be one of {', '.join(FORMATS)}, got '{args.format}'"
        )
    folder = _results_dir(args.dir)
    config = read_config(folder)
    derived = [m.name for m in config.metrics]
    allowed = [*SUMMARY_METRICS, *derived]
    if args.metrics is None:
        metrics = [*COMPARED_METRICS, *derived]
    else:
        metrics = [m.strip() for m in args.metrics.split(",") if m.strip()]
        unknown = [m for m in metrics if m not in allowed]
        if unknown or not metrics:
            raise ConfigError(
                f"argument --metrics: unknown metric '{unknown[0] if unknown else ''}'; "
                f"allowed: {', '.join(allowed)}"
            )
    if args.by == "point" and not config.params:
        raise ConfigError("argument --by: 'point' needs a sweep; this experiment sweeps nothing")
    out = Path(args.out) if args.out else None
    if out is not None and out.is_dir():
        raise ConfigError(f"argument --out: '{out}' is a folder; give a file name")
    summary = read_summary(folder, config)
    order = None
    baseline = args.baseline
    if args.by == "policy":
        order = [p.name for p in config.policies]
    elif args.by == "scenario":
        order = [s.name for s in config.scenarios]
    if order is not None and baseline is not None and baseline not in order:
        raise ConfigError(
            f"argument --baseline: unknown {args.by} '{baseline}'; allowed: {', '.join(order)}"
        )
    if args.by == "point" and baseline is not None:
        from experiments.analysis import point_label

        points = [
            point_label(config.params, v)
            for v in summary[config.params].drop_duplicates().itertuples(index=False)
        ]
        baseline = _point_baseline(baseline, config.params, points)
    table = compare(summary, args.by, config.params, baseline, order, metrics)
    text = render(table, args.format, args.by, config.params, NameTable(config.metrics))
    if args.by == "policy" and args.metrics is None:  # the folder's table, as always
        store.atomic_write_text(folder / "comparison.csv", table.to_csv(index=False))
        print(f"written to {folder / 'comparison.csv'}", file=sys.stderr)
    if out is None:
        print(text, end="")
    else:
        store.atomic_write_text(out, text)
        print(f"{args.format} table written to {out}", file=sys.stderr)
    return 0


def _sensitivity(args: argparse.Namespace) -> int:
    from experiments import sensitivity

    folder = _results_dir(args.dir)
    result = sensitivity.analyse_results(folder, args.metric or sensitivity.SENSITIVITY_METRICS)
    paths = sensitivity.write(result, folder)
    print(sensitivity.format_markdown(result))
    print(f"\nwritten: {', '.join(str(p) for p in paths[:2])} and {len(paths) - 2} charts")
    return 0


def _discover(args: argparse.Namespace) -> int:
    from experiments import discover

    folder = _results_dir(args.dir)
    above = args.above_quantile is not None or args.above_value is not None
    threshold = discover.Threshold(
        metric=args.metric,
        above=above,
        value=args.above_value if above else args.below_value,
        quantile=args.above_quantile if above else args.below_quantile,
    )
    result = discover.discover_results(folder, threshold, args.min_density)
    paths = discover.write(result, folder)
    print(discover.format_markdown(result))
    print(f"\nwritten: {', '.join(str(p) for p in paths)}")
    return 0


def _list(_args: argparse.Namespace) -> int:
    from experiments.catalog import catalog

    print(catalog(CONFIG_DIR))
    return 0


def _validate(args: argparse.Namespace) -> int:
    from experiments import store
    from experiments.config import load_config
    from experiments.runner import run_experiment
    from experiments.validate import write_report

    if args.workers is not None and args.workers < 1:
        raise ConfigError(f"argument --workers must be >= 1, got {args.workers}")
    from experiments.runner import code_version, same_code
    from experiments.validate import update_docs

    config = load_config(args.config)
    out = Path(args.out) if args.out else Path("results") / config.name
    if args.update_docs:
        written = update_docs(out, Path(args.doc))
        print(f"copied {out / 'validation.md'} and {len(written)} figures to {args.doc}")
        return 0
    resume = store.has_results(out) and not args.force
    if resume:  # results of another model version are redone, not mixed in
        try:
            made_by = store.read_manifest(out).get("code_version", "unknown")
        except (OSError, ValueError):
            made_by = "unknown"
        resume = same_code(made_by, code_version())
    report = run_experiment(
        config,
        out_dir=out,
        workers=args.workers,
        resume=resume,
        force=not resume and store.has_results(out),
        source=Path(args.config).read_text(encoding="utf-8"),
        draw=False,
    )
    print(report.text())
    if report.failed:
        return 1
    facts = write_report(out)
    for fact in facts:
        print(f"  [{'pass' if fact.passed else 'FAIL'}] {fact.key}: {fact.measured}")
    print(
        f"{sum(f.passed for f in facts)} of {len(facts)} checks pass; report: "
        f"{out / 'validation.md'} (copy it into docs/ with --update-docs)"
    )
    return 0


def _reference(args: argparse.Namespace) -> int:
    from experiments.reference import check_reference, update_reference

    if args.update:
        print(f"reference written to {update_reference()}")
        return 0
    differences = check_reference()
    for line in differences:
        print(line)
    print("quickstart matches the reference" if not differences else "quickstart CHANGED")
    return 1 if differences else 0


def _dashboard(args: argparse.Namespace) -> int:
    from experiments.dashboard_server import serve

    return serve(host=args.host, port=args.port)


def _calibrate(args: argparse.Namespace) -> int:
    from experiments import calibrate

    if args.workers is not None and args.workers < 1:
        raise ConfigError(f"argument --workers must be >= 1, got {args.workers}")
    config, spec = calibrate.load_calibration(args.config)
    workers = args.workers or os.cpu_count() or 1
    out = Path(args.out) if args.out else Path("results") / config.name
    result = calibrate.calibrate(config, spec, workers, progress=print)
    for path in calibrate.write(result, config, out):
        print(f"wrote {path}")
    if args.write_defaults:
        root = Path(calibrate.__file__).resolve().parent.parent
        defaults = root / "model" / "calibrated.py"
        print(f"wrote {calibrate.write_defaults(result, Path(args.config), defaults)}")
        record = root / "docs" / "calibration.md"
        record.write_text(calibrate.report(result, config), encoding="utf-8")
        print(f"wrote {record}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the exit status (0 ok, 1 failed runs, 2 usage/config error)."""
    try:
        args = build_parser().parse_args(argv)
        commands = {
            "run": _run,
            "charts": _charts,
            "compare": _compare,
            "sensitivity": _sensitivity,
            "discover": _discover,
            "list": _list,
            "validate": _validate,
            "reference": _reference,
            "calibrate": _calibrate,
            "dashboard": _dashboard,
        }
        return commands[args.command](args)
    except ConfigError as exc:
        message = " ".join(str(exc).split())
        print(f"error: {message}", file=sys.stderr)
        return 2
    except OSError as exc:
        print(f"error: {exc.strerror or exc}: '{exc.filename}'", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("error: interrupted; finished runs are kept, continue with --resume", file=sys.stderr)
        return 130
