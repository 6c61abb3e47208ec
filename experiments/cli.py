"""Command line: ``python -m experiments run|charts|compare|list|validate|reference|dashboard``.

Bad arguments or configs exit with status 2 and one ``error: ...`` line on
stderr; failed runs give status 1.
"""

from __future__ import annotations

import argparse
import signal
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

from experiments.config import ConfigError

if TYPE_CHECKING:
    from experiments.config import ExperimentConfig

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
    compare = sub.add_parser("compare", help="policy comparison table (also DIR/comparison.csv)")
    compare.add_argument("dir", help="results folder")
    compare.add_argument(
        "--baseline", help="policy to compare against (default: the config's first)"
    )
    sub.add_parser("list", help="shipped configs, scenario presets and policy presets")
    validate = sub.add_parser(
        "validate", help="measure the stylized facts and write docs/validation.md"
    )
    validate.add_argument(
        "config", nargs="?", default=str(CONFIG_DIR / "validation.toml"), help="validation config"
    )
    validate.add_argument("--out", help="results folder (default: results/<experiment name>)")
    validate.add_argument("--workers", type=int, help="worker processes (default: CPU count)")
    validate.add_argument("--doc", default="docs/validation.md", help="report to write")
    validate.add_argument("--force", action="store_true", help="rerun instead of resuming")
    reference = sub.add_parser(
        "reference", help="check the quickstart results against results/reference/"
    )
    reference.add_argument(
        "--update", action="store_true", help="regenerate the reference (a deliberate change)"
    )
    dashboard = sub.add_parser("dashboard", help="serve the interactive dashboard (solara)")
    dashboard.add_argument("--host", default="127.0.0.1", help="address (default: 127.0.0.1)")
    dashboard.add_argument("--port", type=int, default=8765, help="port (default: 8765)")
    return parser


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

    with store.lock_folder(folder, create=False):  # creates nothing
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


def _compare(args: argparse.Namespace) -> int:
    from experiments import store
    from experiments.analysis import compare_policies, format_comparison

    folder = Path(args.dir)
    with _reading(folder, "compare"):
        folder, config = _results_dir(args.dir)
        policies = [p.name for p in config.policies]
        if args.baseline is not None and args.baseline not in policies:
            raise ConfigError(
                f"argument --baseline: unknown policy '{args.baseline}'; "
                f"allowed: {', '.join(policies)}"
            )
        table = compare_policies(
            store.read_table(folder, "summary"),
            params=config.params,
            baseline=args.baseline,
            policies=policies,
        )
        target = folder / store.COMPARISON
        store.atomic_write_text(target, table.to_csv(index=False))
    print(format_comparison(table, config.params))
    print(f"\nwritten to {target}")
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

    config, source = read_config(args.config)
    _check_validation_config(args.config, config)
    out = output_folder(config, args.out)
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
    facts = write_report(out, Path(args.doc))
    for fact in facts:
        print(f"  [{'pass' if fact.passed else 'FAIL'}] {fact.key}: {fact.measured}")
    print(f"{sum(f.passed for f in facts)} of {len(facts)} checks pass; report: {args.doc}")
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
            "list": _list,
            "validate": _validate,
            "reference": _reference,
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
