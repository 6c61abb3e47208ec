"""Command line: ``python -m experiments run|charts|compare|sensitivity|discover|list|...``.

Subcommands: run, charts, compare, sensitivity, discover, risk, reverse-stress, list,
validate, reference, calibrate, docs, dashboard (``python -m experiments -h``).

Bad arguments or configs exit with status 2 and one ``error: ...`` line on
stderr; failed runs give status 1.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

from experiments.catalog import CONFIG_DIR
from experiments.config import ConfigError

if TYPE_CHECKING:
    from experiments.config import ExperimentConfig


class _Parser(argparse.ArgumentParser):
    """An argparse parser whose errors are one line, not usage plus message."""

    def error(self, message: str) -> NoReturn:
        raise ConfigError(message)


def build_parser() -> argparse.ArgumentParser:
    """Return the argument parser of ``python -m experiments``."""
    parser = _Parser(prog="python -m experiments", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    _add_run(sub)
    charts = sub.add_parser("charts", help="redraw every figure of a results folder from its files")
    charts.add_argument("dir", help="results folder")
    _add_compare(sub)
    _add_sensitivity(sub)
    _add_discover(sub)
    _add_risk(sub)
    _add_reverse_stress(sub)
    sub.add_parser("list", help="shipped configs, scenario presets and policy presets")
    _add_validate(sub)
    _add_reference(sub)
    _add_calibrate(sub)
    _add_docs(sub)
    _add_dashboard(sub)
    return parser


def _add_run(sub: argparse._SubParsersAction) -> None:
    """Add the ``run`` command: run an experiment config."""
    run = sub.add_parser("run", help="run an experiment config")
    run.add_argument("config", help="experiment config (TOML)")
    run.add_argument("--out", help="results folder (default: results/<experiment name>)")
    run.add_argument(
        "--workers", type=int, help="worker processes (default: CPU count; 1 = serial)"
    )
    run.add_argument(
        "--resume",
        action="store_true",
        help="finish a folder made by the same config, or by one with fewer replications or "
        "without the loan tape (a folder of this very config is finished without it)",
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


def _add_compare(sub: argparse._SubParsersAction) -> None:
    """Add the ``compare`` command: paired comparisons of a results folder."""
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
        "scenario (within each policy and point), point (sweep points, within each "
        "scenario and policy) or lender (the lenders of each market, on their own metrics)",
    )
    compare.add_argument(
        "--lender",
        help="compare this lender's own metrics (a lender's name in the markets) instead of "
        "the market's, e.g. the same lender across markets with --by policy",
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


def _add_sensitivity(sub: argparse._SubParsersAction) -> None:
    """Add the ``sensitivity`` command: Morris or Sobol' indices of a folder."""
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


def _add_discover(sub: argparse._SubParsersAction) -> None:
    """Add the ``discover`` command: PRIM boxes around the bad runs."""
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


def _add_risk(sub: argparse._SubParsersAction) -> None:
    """Add the ``risk`` command: loss distribution and economic capital of a folder."""
    risk = sub.add_parser(
        "risk",
        help="loss distribution, VaR/ES with CIs, capital breach and failure probabilities, "
        "economic capital and implied asset correlation of a stochastic run "
        "(DIR/risk.csv, risk.md, figures/)",
    )
    risk.add_argument("dir", help="results folder of a config with stochastic scenarios")


def _add_reverse_stress(sub: argparse._SubParsersAction) -> None:
    """Add the ``reverse-stress`` command: the mildest breaking scenario per policy."""
    reverse = sub.add_parser(
        "reverse-stress",
        help="search a family of scenarios for the mildest one that breaks a condition, per "
        "policy ([reverse_stress] table of a config; writes reverse_stress.csv, .md, figures/)",
    )
    reverse.add_argument("config", help="config with a [reverse_stress] table (TOML)")
    reverse.add_argument("--out", help="results folder (default: results/<experiment name>)")
    reverse.add_argument("--workers", type=int, help="worker processes (default: CPU count)")


def _add_validate(sub: argparse._SubParsersAction) -> None:
    """Add the ``validate`` command: the stylized facts and their report."""
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


def _add_reference(sub: argparse._SubParsersAction) -> None:
    """Add the ``reference`` command: the quickstart against results/reference/."""
    reference = sub.add_parser(
        "reference", help="check the quickstart results against results/reference/"
    )
    reference.add_argument(
        "--update", action="store_true", help="regenerate the reference (a deliberate change)"
    )


def _add_calibrate(sub: argparse._SubParsersAction) -> None:
    """Add the ``calibrate`` command: fit free parameters to targets."""
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


def _add_docs(sub: argparse._SubParsersAction) -> None:
    """Add the ``docs`` command: write the config reference."""
    docs = sub.add_parser(
        "docs", help="write docs/configs.md, the config reference, from the declarations"
    )
    docs.add_argument("--out", help="where to write it (default: docs/configs.md)")
    docs.add_argument(
        "--check", action="store_true", help="write nothing; exit 1 if the file is out of date"
    )


def _add_dashboard(sub: argparse._SubParsersAction) -> None:
    """Add the ``dashboard`` command: serve the interactive dashboard."""
    dashboard = sub.add_parser("dashboard", help="serve the interactive dashboard (solara)")
    dashboard.add_argument("--host", default="127.0.0.1", help="address (default: 127.0.0.1)")
    dashboard.add_argument("--port", type=int, default=8765, help="port (default: 8765)")


class DamagedResultsError(ConfigError):
    """A results folder's files are unreadable or do not belong together."""


def _is_results_dir(path: str) -> Path:
    """``path`` as a folder holding a manifest and a summary (not yet read).

    Raises:
        ConfigError: If ``path`` is not a results folder.
    """
    from experiments import store

    folder = Path(path)
    for name in (store.MANIFEST, "summary.parquet"):
        if not (folder / name).is_file():
            raise ConfigError(f"argument dir: '{folder}' is not a results folder (no {name})")
    return folder


def _results_dir(path: str, tables: Sequence[str] = ("summary",)) -> tuple[Path, ExperimentConfig]:
    """Open a results folder for reading: its manifest's config, with ``tables`` checked.

    Everything is checked before anything is written: the manifest parses and holds a
    valid config, each table is a readable parquet file with the columns that config
    gives, and the summary's runs are the manifest's.

    Raises:
        ConfigError: If ``path`` is not a results folder.
        DamagedResultsError: Naming the damaged file and how to rebuild it.
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    from experiments import store
    from experiments.config import parse_config
    from experiments.design import param_types

    folder = _is_results_dir(path)
    rebuild = "rebuild it with: python -m experiments run CONFIG --out DIR --resume"
    redo = "run the config again: python -m experiments run CONFIG --out DIR --force"
    try:
        manifest = store.read_manifest(folder)
    except (OSError, ValueError) as exc:
        raise DamagedResultsError(
            f"results folder '{folder}': manifest.json is unreadable ({exc}); {redo}"
        ) from None
    if not isinstance(manifest, dict) or not isinstance(manifest.get("config"), dict):
        raise DamagedResultsError(
            f"results folder '{folder}': manifest.json holds no experiment config; {redo}"
        )
    try:
        config = parse_config(manifest["config"])
    except ConfigError as exc:
        raise DamagedResultsError(
            f"results folder '{folder}': manifest.json holds an invalid config ({exc}); {redo}"
        ) from None
    expected = store.schemas(param_types(config))
    for name in tables:
        file = folder / f"{name}.parquet"
        try:
            columns = pq.read_schema(file).names
        except (OSError, pa.ArrowException) as exc:
            raise DamagedResultsError(
                f"results folder '{folder}': {file.name} is missing or damaged "
                f"({' '.join(str(exc).split())[:200]}); {rebuild}"
            ) from None
        if columns != expected[name].names:
            missing = [c for c in expected[name].names if c not in columns]
            raise DamagedResultsError(
                f"results folder '{folder}': {file.name} does not match manifest.json "
                f"(columns {', '.join(missing) or 'in another order'} expected); {rebuild}"
            )
    _check_summary_matches(folder, manifest, config, rebuild)
    return folder, config


def _check_summary_matches(
    folder: Path, manifest: dict[str, Any], config: ExperimentConfig, rebuild: str
) -> None:
    """Refuse a summary whose runs are not the manifest's (a folder of two experiments)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        columns = ["run_id", "scenario", "policy"]
        summary = pq.read_table(folder / "summary.parquet", columns=columns)
    except (OSError, pa.ArrowException) as exc:
        raise DamagedResultsError(
            f"results folder '{folder}': summary.parquet is damaged ({exc}); {rebuild}"
        ) from None
    for kind, names in (
        ("scenario", {s.name for s in config.scenarios}),
        ("policy", {p.name for p in config.policies}),
    ):
        unknown = sorted(set(summary.column(kind).to_pylist()) - names)
        if unknown:
            raise DamagedResultsError(
                f"results folder '{folder}': summary.parquet has {kind} '{unknown[0]}', which "
                f"the config in manifest.json does not have ({', '.join(sorted(names))}); "
                f"{rebuild}"
            )
    runs = manifest.get("runs")
    if not isinstance(runs, list):
        raise DamagedResultsError(
            f"results folder '{folder}': manifest.json lists no runs; {rebuild}"
        )
    listed = {r.get("run_id") for r in runs if isinstance(r, dict)}
    stray = [r for r in summary.column("run_id").to_pylist() if r not in listed]
    if stray:
        raise DamagedResultsError(
            f"results folder '{folder}': summary.parquet holds {len(stray)} run(s) that "
            f"manifest.json does not list (e.g. {stray[0]}); the files come from different "
            f"runs of {config.name!r}; {rebuild}"
        )


@contextmanager
def _reading(folder: Path, command: str) -> Iterator[None]:
    """Hold the folder's lock while reading it, and report an unexpected failure in one line.

    The folder is checked first (:func:`_results_dir`); what fails after that (a file
    that changed, a name matplotlib cannot draw) is still one line, not a traceback.

    Raises:
        ConfigError: For any failure, naming the command and the folder.
    """
    from experiments import store

    with store.lock_folder(folder, create=False) as locked:  # creates nothing
        if locked:
            with suppress(OSError):  # a read-only folder is still read
                store.settle_killed_run(folder)  # no one writes it: "running" was killed
        try:
            yield
        except (ConfigError, OSError):
            raise
        except Exception as exc:  # noqa: BLE001 - one line, whatever went wrong
            raise ConfigError(
                f"{command} failed on results folder '{folder}': {_one_line(exc)}"
            ) from None


def _one_line(exc: BaseException, limit: int = 200) -> str:
    """``Type: message`` of an exception on one line, cut to ``limit`` characters."""
    return f"{type(exc).__name__}: {' '.join(str(exc).split())[:limit]}"


def _run(args: argparse.Namespace) -> int:
    from experiments.config import read_config
    from experiments.runner import run_experiment

    if args.workers is not None and args.workers < 1:
        raise ConfigError(f"argument --workers must be >= 1, got {args.workers}")
    config, source = read_config(args.config)
    report = run_experiment(
        config,
        out_dir=args.out,
        workers=args.workers,
        resume=args.resume,
        force=args.force,
        progress=not args.quiet,
        source=source,
        draw=not args.no_charts,
        scheduler=args.scheduler,
    )
    print(report.text())
    if report.figures_error:
        print(
            f"warning: the results are complete but the figures could not be drawn "
            f"({report.figures_error}); redraw them with: python -m experiments charts "
            f"{report.out_dir}",
            file=sys.stderr,
        )
    return 1 if report.failed or report.figures_error else 0


def _charts(args: argparse.Namespace) -> int:
    from experiments import store
    from experiments.charts import draw_all

    folder = Path(args.dir)
    with _reading(folder, "charts"):
        # Every file is checked before a figure is replaced.
        _results_dir(args.dir, store.TABLES)
        paths = draw_all(folder)
    print(f"{len(paths)} figure files written to {folder / 'figures'}")
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
    from experiments.analysis import COMPARE_BY
    from experiments.export import FORMATS

    if args.by not in COMPARE_BY:
        raise ConfigError(f"argument --by must be one of {', '.join(COMPARE_BY)}, got '{args.by}'")
    if args.format not in FORMATS:
        raise ConfigError(
            f"argument --format must be one of {', '.join(FORMATS)}, got '{args.format}'"
        )
    folder = Path(args.dir)
    with _reading(folder, "compare"):
        folder, config = _results_dir(args.dir)
        table, text = _comparison(args, folder, config)
        market_level = args.by != "lender" and args.lender is None
        if args.by == "policy" and args.metrics is None and market_level:  # the folder's table
            store.atomic_write_text(folder / store.COMPARISON, table.to_csv(index=False))
            print(f"written to {folder / store.COMPARISON}", file=sys.stderr)
    out = Path(args.out) if args.out else None
    if out is None:
        print(text, end="")
    else:
        store.atomic_write_text(out, text)
        print(f"{args.format} table written to {out}", file=sys.stderr)
    return 0


def _check_out_file(out: Path) -> None:
    """A file ``--out`` can be written: not a folder, in a folder that exists."""
    if out.is_dir():
        raise ConfigError(f"argument --out: '{out}' is a folder; give a file name")
    if not out.parent.is_dir():
        raise ConfigError(f"argument --out: folder '{out.parent}' does not exist")


def _comparison(
    args: argparse.Namespace, folder: Path, config: ExperimentConfig
) -> tuple[Any, str]:
    """The comparison table of a checked results folder, and its text in ``args.format``."""
    from experiments.analysis import compare
    from experiments.export import render
    from experiments.labels import NameTable

    per_lender = args.by == "lender" or args.lender is not None
    if args.by == "lender" and args.lender is not None:
        raise ConfigError("argument --lender: not allowed with --by lender (it compares them all)")
    metrics = _compared_metrics(args.metrics, config, per_lender)
    if args.by == "point" and not config.params:
        raise ConfigError("argument --by: 'point' needs a sweep; this experiment sweeps nothing")
    if args.out:
        _check_out_file(Path(args.out))
    summary = _compared_runs(folder, config, args.lender) if per_lender else None
    if summary is None:
        from experiments.inputs import read_summary

        summary = read_summary(folder, config)
    order, baseline = _compared_order(args.by, args.baseline, config, summary)
    table = compare(summary, args.by, config.params, baseline, order, metrics)
    return table, render(table, args.format, args.by, config.params, NameTable(config.metrics))


def _compared_metrics(text: str | None, config: ExperimentConfig, per_lender: bool) -> list[str]:
    """The metrics of ``--metrics`` (checked), or the default set."""
    from experiments.analysis import COMPARED_METRICS
    from experiments.summaries import LENDER_SUMMARIES, SUMMARY_METRICS

    derived = [] if per_lender else [m.name for m in config.metrics]
    allowed = [*(LENDER_SUMMARIES if per_lender else SUMMARY_METRICS), *derived]
    if text is None:
        return [*COMPARED_METRICS, *derived]
    metrics = [m.strip() for m in text.split(",") if m.strip()]
    unknown = [m for m in metrics if m not in allowed]
    if unknown or not metrics:
        raise ConfigError(
            f"argument --metrics: unknown metric '{unknown[0] if unknown else ''}'; "
            f"allowed{' for lenders' if per_lender else ''}: {', '.join(allowed)}"
        )
    return metrics


def _compared_runs(folder: Path, config: ExperimentConfig, lender: str | None) -> Any:
    """The lenders' summaries (of ``lender`` only, if given)."""
    from experiments.inputs import read_lender_summaries

    names = list(dict.fromkeys(n for p in config.policies for n in p.lender_names))
    if lender is not None and lender not in names:
        raise ConfigError(
            f"argument --lender: unknown lender '{lender}'; allowed: {', '.join(names)}"
        )
    summary = read_lender_summaries(folder, config)
    return summary if lender is None else summary[summary["lender"] == lender]


def _compared_order(
    by: str, baseline: str | None, config: ExperimentConfig, summary: Any
) -> tuple[list[str] | None, str | None]:
    """The items' order and the baseline (checked) of a comparison."""
    order = {
        "policy": [p.name for p in config.policies],
        "scenario": [s.name for s in config.scenarios],
        "lender": list(dict.fromkeys(n for p in config.policies for n in p.lender_names)),
    }.get(by)
    if order is not None and baseline is not None and baseline not in order:
        raise ConfigError(
            f"argument --baseline: unknown {by} '{baseline}'; allowed: {', '.join(order)}"
        )
    if by == "point" and baseline is not None:
        from experiments.analysis import point_label

        points = [
            point_label(config.params, v)
            for v in summary[config.params].drop_duplicates().itertuples(index=False)
        ]
        baseline = _point_baseline(baseline, config.params, points)
    return order, baseline


def _sensitivity(args: argparse.Namespace) -> int:
    from experiments import sensitivity

    folder = Path(args.dir)
    with _reading(folder, "sensitivity"):
        # The tables are checked by the analysis itself (only the metrics it needs).
        folder, _ = _results_dir(args.dir, tables=())
        metrics = args.metric or sensitivity.SENSITIVITY_METRICS
        result = sensitivity.analyse_results(folder, metrics)
        paths = sensitivity.write(result, folder)
    print(sensitivity.format_markdown(result))
    print(f"\nwritten: {', '.join(str(p) for p in paths[:2])} and {len(paths) - 2} chart files")
    return 0


def _discover(args: argparse.Namespace) -> int:
    from experiments import discover

    folder = Path(args.dir)
    above = args.above_quantile is not None or args.above_value is not None
    threshold = discover.Threshold(
        metric=args.metric,
        above=above,
        value=args.above_value if above else args.below_value,
        quantile=args.above_quantile if above else args.below_quantile,
    )
    with _reading(folder, "discover"):
        folder, _ = _results_dir(args.dir, tables=())
        result = discover.discover_results(folder, threshold, args.min_density)
        paths = discover.write(result, folder)
    print(discover.format_markdown(result))
    print(f"\nwritten: {', '.join(str(p) for p in paths)}")
    return 0


def _risk(args: argparse.Namespace) -> int:
    from experiments import risk

    folder = Path(args.dir)
    with _reading(folder, "risk"):
        folder, _ = _results_dir(args.dir, tables=("summary", "timeseries", "lender_timeseries"))
        result = risk.analyse_results(folder)
        paths = risk.write(result, folder)
    print(risk.format_markdown(result))
    print(f"written: {', '.join(str(p) for p in paths[:2])} and {len(paths) - 2} chart files")
    return 0


def _reverse_stress(args: argparse.Namespace) -> int:
    from experiments import reverse_stress, store

    if args.workers is not None and args.workers < 1:
        raise ConfigError(f"argument --workers must be >= 1, got {args.workers}")
    config, spec = reverse_stress.load(args.config)
    out = Path(args.out) if args.out else Path("results") / config.name
    store.make_folder(out)  # before the search, not after it
    workers = args.workers or os.cpu_count() or 1
    result = reverse_stress.search(config, spec, workers=workers, progress=print)
    paths = reverse_stress.write(result, out)
    tables = [p for p in paths if p.suffix in (".csv", ".md")]
    print(reverse_stress.format_markdown(result))
    print(
        f"written: {', '.join(str(p) for p in tables)} and {len(paths) - len(tables)} chart files"
    )
    return 0


def _list(_args: argparse.Namespace) -> int:
    from experiments.catalog import catalog

    print(catalog(CONFIG_DIR))
    return 0


def _check_validation_config(path: str, config: ExperimentConfig) -> None:
    """Refuse up front a config that lacks what the validation report measures.

    The report needs the scenarios and policies of the shipped ``validation.toml``, paired
    replications (at least 2) and no sweep.
    """
    from experiments.config import load_config

    shipped = load_config(CONFIG_DIR / "validation.toml")
    scenarios, policies = {s.name for s in config.scenarios}, {p.name for p in config.policies}
    missing = [f"scenario {s.name}" for s in shipped.scenarios if s.name not in scenarios]
    missing += [f"policy {p.name}" for p in shipped.policies if p.name not in policies]
    if missing:
        raise ConfigError(
            f"config '{path}' is not a validation config: it lacks {', '.join(missing)}; "
            f"validate needs the scenarios and policies of {CONFIG_DIR / 'validation.toml'}"
        )
    if config.sweep or config.sample:
        raise ConfigError(f"config '{path}': validate takes no [sweep] or [sample]; remove it")
    if config.replications < 2:
        raise ConfigError(
            f"config '{path}' [experiment] replications must be >= 2 for validate (confidence "
            f"intervals), got {config.replications}"
        )


def _validate(args: argparse.Namespace) -> int:
    from experiments import store
    from experiments.config import read_config
    from experiments.runner import run_experiment
    from experiments.validate import write_report

    if args.workers is not None and args.workers < 1:
        raise ConfigError(f"argument --workers must be >= 1, got {args.workers}")
    from experiments.runner import code_version, output_folder, same_code
    from experiments.validate import update_docs

    config, source = read_config(args.config)
    out = output_folder(config, args.out)
    if args.update_docs:
        written = update_docs(out, Path(args.doc))
        print(f"copied {out / 'validation.md'} and {len(written)} figures to {args.doc}")
        return 0
    _check_validation_config(args.config, config)
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
        source=source,
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
    from experiments import calibrate, store

    if args.workers is not None and args.workers < 1:
        raise ConfigError(f"argument --workers must be >= 1, got {args.workers}")
    config, spec = calibrate.load_calibration(args.config)
    workers = args.workers or os.cpu_count() or 1
    out = Path(args.out) if args.out else Path("results") / config.name
    store.make_folder(out)  # before the fit, not after it
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


def _docs(args: argparse.Namespace) -> int:
    from experiments import docs

    root = Path(docs.__file__).resolve().parent.parent
    path = Path(args.out) if args.out else root / docs.CONFIGS_MD
    if args.check:
        current = docs.is_current(path)
        print(f"{path} is {'up to date' if current else f'out of date: run {docs.COMMAND}'}")
        return 0 if current else 1
    print(f"wrote {docs.write_configs_md(path)}")
    return 0


def describe_os_error(exc: OSError) -> str:
    """One line for a storage error, naming the file (never ``'None'``)."""
    reason = exc.strerror or " ".join(str(exc).split()) or type(exc).__name__
    if exc.filename is None:
        return reason
    names = [exc.filename, exc.filename2] if exc.filename2 is not None else [exc.filename]
    return f"{reason}: " + " -> ".join(f"'{name}'" for name in names)


def _stopped_line(exc: BaseException) -> str:
    """The one line printed when a sweep is stopped by a signal or Ctrl-C."""
    how = f"terminated by {exc}" if not isinstance(exc, KeyboardInterrupt) else "interrupted"
    return f"error: {how}; finished runs are kept, continue with --resume"


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the exit status (0 ok, 1 failed runs, 2 usage/config error).

    A sweep stopped by Ctrl-C exits 130, by SIGTERM 143 (SIGHUP 129), with one line.
    """
    from experiments.execute import Terminated

    try:
        args = build_parser().parse_args(argv)
        commands = {
            "run": _run,
            "charts": _charts,
            "compare": _compare,
            "sensitivity": _sensitivity,
            "discover": _discover,
            "risk": _risk,
            "reverse-stress": _reverse_stress,
            "list": _list,
            "validate": _validate,
            "reference": _reference,
            "calibrate": _calibrate,
            "docs": _docs,
            "dashboard": _dashboard,
        }
        return commands[args.command](args)
    except ConfigError as exc:
        message = " ".join(str(exc).split())
        print(f"error: {message}", file=sys.stderr)
        return 2
    except OSError as exc:
        print(f"error: {describe_os_error(exc)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt as exc:
        print(_stopped_line(exc), file=sys.stderr)
        return 130
    except Terminated as exc:
        print(_stopped_line(exc), file=sys.stderr)
        return 128 + int(signal.Signals(exc.signum))
