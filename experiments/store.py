"""Result storage: per-run files written atomically, streamed consolidation, the manifest.

Layout of a results folder (see ``results/README.md``)::

    manifest.json        config, hash, seeds, run specs, versions, timings, failures
    summary.parquet      one row per finished run
    timeseries.parquet   one row per finished run and month
    rollrates.parquet    roll-rate matrix per run (5 rows per run)
    vintages.parquet     vintage loss curves per run
    runs/                per-run files; <run_id>.done.json marks a finished run
    figures/             PNG and SVG charts
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from experiments.analysis import SUMMARY_METRICS
from experiments.design import RunSpec
from model import EXTRA_COLUMNS, METRIC_COLUMNS
from model.observers import ROLL_STATES

#: Tables stored per run and consolidated, in the order they are written.
TABLES = ("timeseries", "rollrates", "vintages", "summary")
MANIFEST = "manifest.json"
RUNS_DIR = "runs"
FIGURES_DIR = "figures"
#: Everything ``--force`` removes (nothing else in the folder is touched).
OWNED = (MANIFEST, "comparison.csv", RUNS_DIR, FIGURES_DIR, *(f"{t}.parquet" for t in TABLES))

_ARROW_TYPES = {"bool": pa.bool_(), "int": pa.int64(), "float": pa.float64()}


@dataclass
class RunResult:
    """Tables produced by one run (identifier columns included)."""

    timeseries: pd.DataFrame
    rollrates: pd.DataFrame
    vintages: pd.DataFrame
    summary: pd.DataFrame


def schemas(param_types: dict[str, str]) -> dict[str, pa.Schema]:
    """Arrow schema of each stored table, given the swept parameters' types."""
    params = [pa.field(name, _ARROW_TYPES[kind]) for name, kind in param_types.items()]
    ids = [
        pa.field("run_id", pa.string()),
        pa.field("scenario", pa.string()),
        pa.field("policy", pa.string()),
        pa.field("replication", pa.int64()),
    ]
    monthly = [
        pa.field(c, pa.int64() if c == "month" else pa.float64())
        for c in (*METRIC_COLUMNS, *EXTRA_COLUMNS)
    ]
    summary = [
        pa.field(m, pa.int64() if m == "peak_overdue_month" else pa.float64())
        for m in SUMMARY_METRICS
    ]
    return {
        "timeseries": pa.schema([*ids, *params, *monthly]),
        "rollrates": pa.schema(
            [
                *ids,
                *params,
                pa.field("from_bucket", pa.string()),
                *(pa.field(s, pa.float64()) for s in ROLL_STATES),
            ]
        ),
        "vintages": pa.schema(
            [
                *ids,
                *params,
                pa.field("vintage", pa.int64()),
                pa.field("months_on_book", pa.int64()),
                pa.field("cum_writeoff_rate", pa.float64()),
            ]
        ),
        "summary": pa.schema([*ids, pa.field("seed", pa.int64()), *params, *summary]),
    }


def _to_table(frame: pd.DataFrame, schema: pa.Schema) -> pa.Table:
    frame = frame[schema.names].reset_index(drop=True)
    return pa.Table.from_pandas(frame, schema=schema, preserve_index=False).replace_schema_metadata(
        None
    )


def _tmp(path: Path) -> Path:
    return path.with_name(f".{path.name}.{os.getpid()}.tmp")


def _atomic_write(path: Path, write: Callable[[BinaryIO], None]) -> None:
    """Write through a synced temporary file renamed into place; never leave a partial file."""
    tmp = _tmp(path)
    try:
        with open(tmp, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def atomic_write_text(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` atomically (UTF-8)."""
    _atomic_write(path, lambda f: f.write(text.encode("utf-8")))


def _atomic_parquet(table: pa.Table, path: Path) -> None:
    _atomic_write(path, lambda f: pq.write_table(table, f))


def run_file(out_dir: Path, run_id: str, table: str) -> Path:
    """Path of one run's stored ``table`` (or its ``done`` marker)."""
    suffix = "done.json" if table == "done" else f"{table}.parquet"
    return out_dir / RUNS_DIR / f"{run_id}.{suffix}"


def write_run(
    out_dir: Path, spec: RunSpec, result: RunResult, seconds: float, param_types: dict[str, str]
) -> None:
    """Store one finished run: its tables, then the ``done`` marker (each atomically).

    The marker records each table's row count, so a damaged file is found on resume.
    """
    (out_dir / RUNS_DIR).mkdir(parents=True, exist_ok=True)
    tables = schemas(param_types)
    rows = {}
    for name in TABLES:
        table = _to_table(getattr(result, name), tables[name])
        _atomic_parquet(table, run_file(out_dir, spec.run_id, name))
        rows[name] = table.num_rows
    marker = json.dumps({"seconds": seconds, "rows": rows})
    atomic_write_text(run_file(out_dir, spec.run_id, "done"), marker)


def _intact(out_dir: Path, run_id: str) -> float | None:
    """The stored run time if the run's marker and every table are readable and complete."""
    try:
        marker = json.loads(run_file(out_dir, run_id, "done").read_text(encoding="utf-8"))
        for name in TABLES:
            meta = pq.read_metadata(run_file(out_dir, run_id, name))
            if meta.num_rows != marker["rows"][name]:
                return None
        return float(marker["seconds"])
    except (OSError, ValueError, KeyError, TypeError, pa.ArrowException):
        return None


def remove_partial_files(out_dir: Path) -> int:
    """Delete temporary files left by a process killed mid-write; return how many."""
    partial = [p for p in out_dir.rglob(".*.tmp") if p.is_file()]
    for path in partial:
        path.unlink(missing_ok=True)
    return len(partial)


def finished(out_dir: Path, specs: Iterable[RunSpec]) -> dict[str, float]:
    """Run ids stored intact in ``out_dir``, with their recorded run time (seconds).

    A run whose marker or files are missing, truncated or corrupt is not finished:
    its leftovers are removed so that it is run again.
    """
    done = {}
    for spec in specs:
        if not run_file(out_dir, spec.run_id, "done").exists():
            continue
        seconds = _intact(out_dir, spec.run_id)
        if seconds is None:
            for name in (*TABLES, "done"):
                run_file(out_dir, spec.run_id, name).unlink(missing_ok=True)
        else:
            done[spec.run_id] = seconds
    return done


def consolidate(out_dir: Path, specs: list[RunSpec], param_types: dict[str, str]) -> int:
    """Stream every finished run's tables into the folder's consolidated parquet files.

    Runs are read one at a time in design order, so the files do not depend on
    completion order or worker count and memory stays bounded.

    Returns:
        The number of runs consolidated.
    """
    done = [
        s
        for s in sorted(specs, key=lambda s: s.index)
        if run_file(out_dir, s.run_id, "done").is_file()
    ]
    for name, schema in schemas(param_types).items():
        target = out_dir / f"{name}.parquet"

        def stream(sink: BinaryIO, name: str = name, schema: pa.Schema = schema) -> None:
            with pq.ParquetWriter(sink, schema) as writer:
                for spec in done:
                    table = pq.read_table(run_file(out_dir, spec.run_id, name))
                    writer.write_table(table.cast(schema))

        _atomic_write(target, stream)
    return len(done)


def has_results(out_dir: Path) -> bool:
    """Whether ``out_dir`` already holds (possibly partial) results."""
    return any((out_dir / name).exists() for name in OWNED)


def clear_results(out_dir: Path) -> None:
    """Remove the results files this package owns in ``out_dir`` (for ``--force``)."""
    for name in OWNED:
        path = out_dir / name
        if path.is_dir():
            shutil.rmtree(path)
        elif path.exists():
            path.unlink()


def write_manifest(out_dir: Path, manifest: dict[str, Any]) -> None:
    """Write ``manifest.json`` atomically."""
    atomic_write_text(out_dir / MANIFEST, json.dumps(manifest, indent=2, sort_keys=False) + "\n")


def read_manifest(out_dir: Path) -> dict[str, Any]:
    """Read ``manifest.json`` from a results folder.

    Raises:
        FileNotFoundError: If the folder has no manifest.
    """
    return json.loads((out_dir / MANIFEST).read_text(encoding="utf-8"))


def read_table(out_dir: Path, name: str, columns: list[str] | None = None) -> pd.DataFrame:
    """Read one consolidated table (``summary``, ``timeseries``, ``rollrates``, ``vintages``)."""
    return pq.read_table(out_dir / f"{name}.parquet", columns=columns).to_pandas()
