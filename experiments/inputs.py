"""Checked reading of a finished results folder, for the charts and comparisons.

Every problem (a missing or truncated parquet file, a damaged ``manifest.json``, a
config this version cannot read, a missing column) is one :class:`DamagedResults` line
naming the file, raised before anything is written.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from experiments.config import ConfigError, ExperimentConfig, parse_config

#: Identifier columns of every table.
IDS = ("run_id", "scenario", "policy", "replication")


class DamagedResults(ConfigError):
    """A results folder cannot be read (a file missing, truncated or inconsistent)."""


def damaged(out_dir: Path, what: str, exc: BaseException | str) -> DamagedResults:
    """The one-line error for a damaged file ``what`` of ``out_dir``."""
    reason = exc if isinstance(exc, str) else (str(exc).strip().splitlines() or [""])[0]
    reason = reason[:200] or type(exc).__name__
    return DamagedResults(f"results folder '{out_dir}' is damaged: {what}: {reason}")


def read_config(out_dir: Path) -> ExperimentConfig:
    """The config stored in ``out_dir/manifest.json``.

    Raises:
        DamagedResults: If the manifest is missing, damaged, or holds an invalid config.
    """
    from experiments import store

    try:
        return parse_config(store.read_manifest(out_dir)["config"])
    except ConfigError as exc:
        raise DamagedResults(
            f"results folder '{out_dir}': the config in manifest.json is not valid here: {exc}"
        ) from None
    except FileNotFoundError:
        raise damaged(out_dir, store.MANIFEST, "missing") from None
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise damaged(out_dir, store.MANIFEST, exc) from None


def read_checked(out_dir: Path, name: str, columns: Sequence[str]) -> pd.DataFrame:
    """Read ``columns`` of the consolidated table ``name``.

    Raises:
        DamagedResults: If the file is missing or unreadable or lacks a column.
    """
    import pyarrow as pa

    from experiments import store

    path = out_dir / f"{name}.parquet"
    try:
        frame = store.read_table(out_dir, name, columns=list(columns))
    except FileNotFoundError:
        raise damaged(out_dir, path.name, "missing") from None
    except (OSError, ValueError, KeyError, TypeError, pa.ArrowException) as exc:
        raise damaged(out_dir, path.name, exc) from None
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise damaged(out_dir, path.name, f"no column {missing[0]!r}")
    return frame


def read_summary(out_dir: Path, config: ExperimentConfig) -> pd.DataFrame:
    """``summary.parquet`` with the config's derived metrics added.

    Raises:
        DamagedResults: If a file it needs is damaged.
    """
    from experiments.derived import add_derived, monthly_needed
    from experiments.summaries import SUMMARY_METRICS

    summary = read_checked(out_dir, "summary", [*IDS, *config.params, *SUMMARY_METRICS])
    monthly = monthly_needed(config.metrics)
    ts = read_checked(out_dir, "timeseries", ["run_id", "month", *monthly]) if monthly else None
    try:
        return add_derived(summary, config.metrics, ts)
    except (ValueError, KeyError) as exc:
        raise damaged(out_dir, "timeseries.parquet", exc) from None


def read_lender_summaries(out_dir: Path, config: ExperimentConfig) -> pd.DataFrame:
    """Each run's lenders' summaries, from ``lender_timeseries.parquet``.

    Raises:
        DamagedResults: If the file is damaged or lacks a column.
    """
    from experiments.analysis import lender_summaries
    from model.metrics import LENDER_COLUMNS

    columns = [*IDS, *config.params, "lender", "lender_name", "month", *LENDER_COLUMNS]
    frame = read_checked(out_dir, "lender_timeseries", [*columns, "failed", "balance_share"])
    if frame.empty:
        return frame.rename(columns={"lender_name": "lender"})
    return lender_summaries(frame, config.params)
