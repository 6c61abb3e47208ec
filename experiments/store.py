"""Result storage: per-run files written atomically, streamed consolidation, the manifest.

Layout of a results folder (see ``results/README.md``)::

    manifest.json        config, hash, seeds, run specs, versions, timings, failures
    summary.parquet      one row per finished run
    timeseries.parquet   one row per finished run and month
    lender_timeseries.parquet  one row per finished run, lender and month
    rollrates.parquet    roll-rate matrix per run (5 rows per run)
    vintages.parquet     vintage loss curves per run
    lender_vintages.parquet  each lender's vintage loss curves per run
    runs/                per-run files; <run_id>.done.json marks a finished run;
                         <run_id>.loan_tape.parquet with save_loan_tape = true
    figures/             PNG and SVG charts
    .lock                held by the run writing the folder (one at a time)
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import re
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from experiments.config import ConfigError
from experiments.design import RunSpec
from experiments.summaries import SUMMARY_METRICS
from model import EXTRA_COLUMNS, METRIC_COLUMNS
from model.metrics import LENDER_COLUMNS
from model.observers import ROLL_STATES

try:
    import fcntl
except ImportError:  # not POSIX: folders are not locked
    fcntl = None  # type: ignore[assignment]

#: Tables stored per run and consolidated, in the order they are written.
TABLES = (
    "timeseries",
    "lender_timeseries",
    "rollrates",
    "vintages",
    "lender_vintages",
    "summary",
)
#: Tables a run may store that are kept per run, never consolidated (too large).
RUN_TABLES = ("loan_tape",)
#: Extra peak memory of a run that stores its loan tape, per borrower and recorded month
#: (the tape's frame with identifiers, its Arrow table and Parquet bytes: measured 13 at
#: 200,000 borrowers x 60 months, one aggressive lender, 0.034 loans per borrower-month).
TAPE_BYTES_PER_BORROWER_MONTH = 15.0
MANIFEST = "manifest.json"
COMPARISON = "comparison.csv"
RUNS_DIR = "runs"
FIGURES_DIR = "figures"
#: Lock file held by the process writing the folder (kept: removing it would race).
LOCK = ".lock"
#: Names of the files and folders this package writes in a results folder.
OWNED = (MANIFEST, COMPARISON, RUNS_DIR, FIGURES_DIR, *(f"{t}.parquet" for t in TABLES))
#: Run ids this package gives: zero-padded design index, a dash, 8 hex digits of a hash.
RUN_ID_RE = re.compile(r"^\d+-[0-9a-f]{8}$")
#: Files of ``runs/`` this package writes: ``<run_id>.<table>.parquet`` and the marker.
RUN_FILE_RE = re.compile(
    r"^\d+-[0-9a-f]{8}\.(?:(?:" + "|".join((*TABLES, *RUN_TABLES)) + r")\.parquet|done\.json)$"
)
#: Files at the top of a results folder this package writes.
TOP_FILE_RE = re.compile(
    "^(?:"
    + "|".join(re.escape(n) for n in (MANIFEST, COMPARISON, *(f"{t}.parquet" for t in TABLES)))
    + ")$"
)


def _temporary(pattern: re.Pattern[str]) -> re.Pattern[str]:
    """Temporary files of :func:`_atomic_write` for files matching ``pattern``.

    ``.<name>.<pid>.tmp``, as left by a process killed mid-write.
    """
    return re.compile(r"^\." + pattern.pattern.strip("^$") + r"\.\d+\.tmp$")


#: Temporary files at the top of the folder and in ``runs/`` (``figures/`` is the charts'
#: module's: ``experiments.charts.remove_figures``).
TMP_FILES = {
    "": _temporary(TOP_FILE_RE),
    RUNS_DIR: _temporary(RUN_FILE_RE),
}


#: ``flock`` errors of file systems that have no locks (some network file systems).
_NO_LOCKS = {errno.ENOLCK, errno.EOPNOTSUPP, errno.ENOSYS}


class FolderInUseError(ConfigError):
    """Another process holds the results folder's lock."""


_ARROW_TYPES = {"bool": pa.bool_(), "int": pa.int64(), "float": pa.float64()}


@dataclass
class RunResult:
    """Tables produced by one run (identifier columns included)."""

    timeseries: pd.DataFrame
    lender_timeseries: pd.DataFrame
    rollrates: pd.DataFrame
    vintages: pd.DataFrame
    lender_vintages: pd.DataFrame
    summary: pd.DataFrame
    loan_tape: pd.DataFrame | None = None  # with ``save_loan_tape = true``


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
    lender = [
        pa.field("lender", pa.int64()),
        pa.field("lender_name", pa.string()),
        pa.field("month", pa.int64()),
        *(pa.field(c, pa.float64()) for c in LENDER_COLUMNS),
        pa.field("failed", pa.bool_()),
        pa.field("balance_share", pa.float64()),
        pa.field("origination_share", pa.float64()),
    ]
    return {
        "timeseries": pa.schema([*ids, *params, *monthly]),
        "lender_timeseries": pa.schema([*ids, *params, *lender]),
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
        "lender_vintages": pa.schema(
            [
                *ids,
                *params,
                pa.field("lender", pa.int64()),
                pa.field("lender_name", pa.string()),
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
    """Write through a synced temporary file renamed into place; never leave a partial file.

    Raises:
        OSError: Naming ``path`` (the file being written) when the error named none.
    """
    tmp = _tmp(path)
    try:
        with open(tmp, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        if exc.filename is None or str(exc.filename) == str(tmp):
            # e.g. a full disk inside pyarrow's writer: name the file, not 'None' or the temp
            raise OSError(exc.errno, exc.strerror or str(exc), str(path)) from exc
        raise
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def atomic_write_text(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` atomically (UTF-8)."""
    _atomic_write(path, lambda f: f.write(text.encode("utf-8")))


def _parquet_bytes(table: pa.Table) -> bytes:
    sink = pa.BufferOutputStream()
    pq.write_table(table, sink)
    return sink.getvalue().to_pybytes()


def _atomic_parquet(table: pa.Table, path: Path) -> str:
    """Write ``table`` to ``path`` atomically; return the file's SHA-256."""
    digest = []

    def write(f: BinaryIO) -> None:
        data = _parquet_bytes(table)  # inside the write: an error names ``path``
        digest.append(hashlib.sha256(data).hexdigest())
        f.write(data)

    _atomic_write(path, write)
    return digest[0]


def run_file(out_dir: Path, run_id: str, table: str) -> Path:
    """Path of one run's stored ``table`` (or its ``done`` marker)."""
    suffix = "done.json" if table == "done" else f"{table}.parquet"
    return out_dir / RUNS_DIR / f"{run_id}.{suffix}"


def run_tables(save_loan_tape: bool) -> tuple[str, ...]:
    """The tables every run of a config stores (its loan tape too when it saves it)."""
    return (*TABLES, *RUN_TABLES) if save_loan_tape else TABLES


def _write_tables(out_dir: Path, run_id: str, tables: dict[str, pa.Table], seconds: float) -> None:
    """Store a run's tables, then its ``done`` marker (rows and SHA-256 of each file)."""
    (out_dir / RUNS_DIR).mkdir(parents=True, exist_ok=True)
    rows, digests = {}, {}
    for name, table in tables.items():
        digests[name] = _atomic_parquet(table, run_file(out_dir, run_id, name))
        rows[name] = table.num_rows
    marker = json.dumps({"seconds": seconds, "rows": rows, "sha256": digests})
    atomic_write_text(run_file(out_dir, run_id, "done"), marker)


def write_run(
    out_dir: Path, spec: RunSpec, result: RunResult, seconds: float, param_types: dict[str, str]
) -> None:
    """Store one finished run: its tables, then the ``done`` marker (each atomically).

    The marker records each file's row count and SHA-256, so a damaged or altered file
    is found on resume and the run is done again. A loan tape, when the result has one,
    is stored as it is (its columns are the model's, ``model.tape.COLUMNS``, after the
    run's identifier columns).
    """
    tables = schemas(param_types)
    converted = {name: _to_table(getattr(result, name), tables[name]) for name in TABLES}
    if result.loan_tape is not None:
        converted["loan_tape"] = pa.Table.from_pandas(result.loan_tape, preserve_index=False)
    _write_tables(out_dir, spec.run_id, converted, seconds)


def _marker(out_dir: Path, run_id: str) -> dict[str, Any]:
    marker = json.loads(run_file(out_dir, run_id, "done").read_text(encoding="utf-8"))
    if not isinstance(marker, dict) or not isinstance(marker.get("rows"), dict):
        raise ValueError(f"damaged marker of run {run_id}")
    return marker


def _intact(out_dir: Path, run_id: str, required: tuple[str, ...] = TABLES) -> float | None:
    """The stored run time if the run's marker and every table it lists are intact.

    A table is intact when its content hash is the one in the marker (markers written
    before hashes were kept: when its row count is). A run whose marker lacks one of the
    ``required`` tables (a loan tape asked for since) is not intact; a listed table that
    is not required and whose file is gone (a tape deleted to free disk) is not checked.
    """
    try:
        marker = _marker(out_dir, run_id)
        digests = marker.get("sha256")
        listed = marker["rows"]
        if not set(required) <= set(listed):
            return None
        for name in listed:
            path = run_file(out_dir, run_id, name)
            if name not in required and not path.exists():
                continue
            if digests is not None:
                if hashlib.sha256(path.read_bytes()).hexdigest() != digests[name]:
                    return None
            elif pq.read_metadata(path).num_rows != listed[name]:
                return None
        return float(marker["seconds"])
    except (OSError, ValueError, KeyError, TypeError, AttributeError, pa.ArrowException):
        return None


def _own_files(folder: Path, pattern: re.Pattern[str]) -> list[Path]:
    """Regular files (not symbolic links) directly in ``folder`` whose names match."""
    try:
        entries = list(os.scandir(folder))
    except (FileNotFoundError, NotADirectoryError):
        return []
    return [
        Path(e.path) for e in entries if pattern.match(e.name) and e.is_file(follow_symlinks=False)
    ]


def remove_partial_files(out_dir: Path) -> int:
    """Delete temporary files left by a process killed mid-write; return how many.

    Only this package's temporary files (``.<name>.<pid>.tmp`` of the names it writes) in
    the folder, ``runs/`` and ``figures/`` are removed; call it while holding the folder's lock
    (:func:`lock_folder`), or another run's files being written would vanish.
    """
    partial = [
        path for sub, pattern in TMP_FILES.items() for path in _own_files(out_dir / sub, pattern)
    ]
    for path in partial:
        path.unlink(missing_ok=True)
    return len(partial)


def adopt_runs(out_dir: Path, previous: list[dict[str, Any]], specs: list[RunSpec]) -> int:
    """Keep finished runs of a previous design whose run ids changed (more replications).

    A run is the same when its scenario, policy, replication, seed and parameters are;
    adding replications only shifts design indexes, hence run ids. Each such run's
    files are rewritten under its new id (the ``run_id`` column too), then the old ones
    removed; a crash in between is repaired by calling this again.

    Args:
        out_dir: Results folder (its lock held).
        previous: The run specs (dicts) of the folder's manifest.
        specs: The new design.

    Returns:
        The number of runs moved to a new id.
    """

    def key(spec: dict[str, Any]) -> str:
        fields = ("scenario", "policy", "replication", "seed", "params")
        return json.dumps([spec.get(f) for f in fields], sort_keys=True)

    new = {key(s.to_dict()): s for s in specs}
    moved = 0
    for old in previous:
        spec = new.get(key(old)) if isinstance(old, dict) else None
        old_id = old.get("run_id") if isinstance(old, dict) else None
        if spec is None or spec.run_id == old_id or not RUN_ID_RE.match(str(old_id)):
            continue  # unchanged, gone from the design, or not an id this package gives
        old_id = str(old_id)
        seconds = _intact(out_dir, old_id)
        if seconds is None:
            continue
        tables = {}
        for name in _marker(out_dir, old_id)["rows"]:
            if not run_file(out_dir, old_id, name).exists():
                continue  # an optional table deleted since (checked by _intact)
            table = pq.read_table(run_file(out_dir, old_id, name))
            ids = pa.array([spec.run_id] * table.num_rows, pa.string())
            tables[name] = table.set_column(table.schema.get_field_index("run_id"), "run_id", ids)
        _write_tables(out_dir, spec.run_id, tables, seconds)
        for name in ("done", *TABLES, *RUN_TABLES):
            run_file(out_dir, old_id, name).unlink(missing_ok=True)
        moved += 1
    return moved


def finished(
    out_dir: Path, specs: Iterable[RunSpec], tables: tuple[str, ...] = TABLES
) -> dict[str, float]:
    """Run ids stored intact in ``out_dir``, with their recorded run time (seconds).

    A run whose marker or files are missing, truncated or corrupt, or that lacks one
    of ``tables`` (:func:`run_tables`), is not finished, so it is run again; a damaged
    run's leftovers are removed, while an intact run lacking only its loan tape is kept
    until the rerun replaces it (each file atomically).
    """
    done = {}
    for spec in specs:
        if not run_file(out_dir, spec.run_id, "done").exists():
            continue
        seconds = _intact(out_dir, spec.run_id, tables)
        if seconds is not None:
            done[spec.run_id] = seconds
        elif _intact(out_dir, spec.run_id) is None:  # damaged, not only lacking a tape
            for name in (*TABLES, *RUN_TABLES, "done"):
                run_file(out_dir, spec.run_id, name).unlink(missing_ok=True)
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
    return any((out_dir / name).exists() or (out_dir / name).is_symlink() for name in OWNED)


def check_clearable(out_dir: Path) -> None:
    """Refuse ``--force`` on a folder whose owned names are symbolic links (nothing deleted).

    Raises:
        ConfigError: Naming the link.
    """
    for name in OWNED:
        path = out_dir / name
        if path.is_symlink():
            raise ConfigError(
                f"argument --force: '{path}' is a symbolic link, which --force neither follows "
                "nor deletes; remove or replace it yourself"
            )


def clear_results(out_dir: Path) -> list[Path]:
    """Remove the results files this package wrote in ``out_dir`` (for ``--force``).

    Only files with the names this package gives are removed: the consolidated tables,
    the manifest, ``comparison.csv`` and run files in ``runs/``; ``runs/`` goes only if
    nothing else is in it. Symbolic links are refused, never followed
    (:func:`check_clearable`). Figures are removed by ``experiments.charts.remove_figures``,
    which knows which it wrote.

    Returns:
        The files removed.
    """
    check_clearable(out_dir)
    removed = []
    for folder, pattern in (
        (out_dir, TOP_FILE_RE),
        (out_dir / RUNS_DIR, RUN_FILE_RE),
        *((out_dir / sub, tmp) for sub, tmp in TMP_FILES.items()),
    ):
        removed += _own_files(folder, pattern)
    for path in removed:
        path.unlink(missing_ok=True)
    with suppress(OSError):
        (out_dir / RUNS_DIR).rmdir()  # only if nothing of the user's is left in it
    return removed


def make_folder(out_dir: Path) -> None:
    """Create a results folder and its parents, or say in one line why it cannot be.

    Raises:
        ConfigError: Naming the folder and the reason (a missing or read-only place).
    """
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(
            f"cannot create results folder '{out_dir}': {exc.strerror or exc} "
            "(choose another with --out)"
        ) from None


@contextmanager
def lock_folder(out_dir: Path, create: bool = True) -> Iterator[bool]:
    """Hold the results folder's lock: one writer at a time.

    An advisory ``flock`` on ``out_dir/.lock``, released when the process ends however
    it ends; the file holds the holder's process id. Yields whether the lock is held
    (not on a folder no run has locked, nor on a file system without locks).

    Args:
        out_dir: The results folder.
        create: Create the folder (and its parents) and the lock file if missing. Without,
            for readers: nothing is created, and a folder no run has locked is not locked.

    Raises:
        FolderInUseError: At once, if another process holds the lock.
        ConfigError: If the folder cannot be created (:func:`make_folder`).
        OSError: If the lock file cannot be created.
    """
    if create:
        make_folder(out_dir)
    if fcntl is None or not (create or (out_dir / LOCK).is_file()):
        yield False
        return
    fd = os.open(out_dir / LOCK, os.O_RDWR | (os.O_CREAT if create else 0), 0o644)
    try:
        locked = True
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 32, 0).decode("ascii", "replace").strip() or "unknown"
            raise FolderInUseError(
                f"'{out_dir}' is in use by another python -m experiments process (pid "
                f"{holder}); wait for it to finish or choose another --out"
            ) from None
        except OSError as exc:
            if exc.errno not in _NO_LOCKS:
                raise
            locked = False  # a file system without locks (some network ones): run unlocked
        if locked:
            os.ftruncate(fd, 0)
            os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        yield locked
    finally:
        os.close(fd)


def settle_killed_run(out_dir: Path) -> bool:
    """Mark a manifest left ``running`` by a killed process as ``interrupted``.

    A run killed outright (SIGKILL, a power cut) cannot rewrite its manifest. Call this
    only while holding the folder's lock (:func:`lock_folder` yielded True): then no
    process is writing the folder, so ``running`` is stale.

    Returns:
        Whether the manifest was rewritten.
    """
    try:
        manifest = read_manifest(out_dir)
    except (OSError, ValueError):
        return False
    if not isinstance(manifest, dict) or manifest.get("status") != "running":
        return False
    manifest.update(
        status="interrupted",
        stopped_by="killed (the process writing the folder ended without a clean stop)",
    )
    write_manifest(out_dir, manifest)
    return True


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
    """Read one consolidated table (a name of :data:`TABLES`, e.g. ``summary``)."""
    return pq.read_table(out_dir / f"{name}.parquet", columns=columns).to_pandas()


def read_loan_tape(out_dir: Path, run_id: str) -> pd.DataFrame:
    """Read one run's stored loan tape (``save_loan_tape = true``).

    Returns:
        One row per loan (``model.tape.COLUMNS``), after the run's identifier columns.

    Raises:
        ConfigError: If the run stored no intact loan tape.
    """
    if not RUN_ID_RE.match(str(run_id)):
        raise ConfigError(
            f"run_id must be a run id of the folder (e.g. 00000-1a2b3c4d), got {run_id!r}"
        )
    path = run_file(Path(out_dir), run_id, "loan_tape")
    if _intact(Path(out_dir), run_id, (*TABLES, *RUN_TABLES)) is None:
        raise ConfigError(
            f"no intact loan tape of run '{run_id}' in '{out_dir}' (looked for {path.name}); "
            "set save_loan_tape = true in [experiment] and run again with --resume"
        )
    return pq.read_table(path).to_pandas()
