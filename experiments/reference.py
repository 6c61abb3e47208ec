"""Regression reference: the quickstart's summary, committed under ``results/reference/``.

``python -m experiments reference`` reruns the quickstart and reports any change;
``--update`` regenerates the reference after a deliberate change to the model.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
import pandas as pd

from experiments import store
from experiments.catalog import CONFIG_DIR
from experiments.config import load_config
from experiments.runner import run_experiment

REFERENCE = Path(__file__).resolve().parent.parent / "results" / "reference"
SUMMARY = REFERENCE / "quickstart_summary.csv"
#: Relative tolerance: far below any real change, above cross-platform rounding.
RTOL = 1e-9


def quickstart_summary() -> pd.DataFrame:
    """Run the shipped quickstart config serially in a temporary folder; return its summary."""
    config = load_config(CONFIG_DIR / "quickstart.toml")
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "quickstart"
        report = run_experiment(config, out_dir=out, workers=1, progress=False, draw=False)
        if report.failed:
            raise RuntimeError(f"{len(report.failed)} quickstart runs failed")
        return store.read_table(out, "summary")


def update_reference() -> Path:
    """Regenerate the committed reference from the current code."""
    REFERENCE.mkdir(parents=True, exist_ok=True)
    quickstart_summary().to_csv(SUMMARY, index=False, float_format="%.17g")
    return SUMMARY


def compare(current: pd.DataFrame, reference: pd.DataFrame) -> list[str]:
    """Describe every difference between two summaries (empty when they agree)."""
    if list(current.columns) != list(reference.columns) or len(current) != len(reference):
        return [
            f"shape or columns changed: {current.shape} {list(current.columns)} "
            f"against {reference.shape} {list(reference.columns)}"
        ]
    lines = []
    for column in reference.columns:
        ref, cur = reference[column], current[column]
        if pd.api.types.is_numeric_dtype(ref) and pd.api.types.is_numeric_dtype(cur):
            bad = ~np.isclose(
                cur.to_numpy(float), ref.to_numpy(float), rtol=RTOL, atol=1e-12, equal_nan=True
            )
        else:
            bad = (cur.astype(str) != ref.astype(str)).to_numpy()
        for row in np.flatnonzero(bad):
            lines.append(
                f"{reference.loc[row, 'run_id']} {column}: {_shown(cur.iloc[row])} "
                f"(reference {_shown(ref.iloc[row])})"
            )
    return lines


def _shown(value: object) -> str:
    """A value as a reader wants it: ``0.0123`` for ``np.float64(0.0123)``, quoted text."""
    if isinstance(value, np.generic):
        value = value.item()
    return repr(value)


def check_reference() -> list[str]:
    """Rerun the quickstart and list its differences from the committed reference."""
    if not SUMMARY.is_file():
        return [f"no reference at {SUMMARY}; create it with --update"]
    return compare(quickstart_summary(), pd.read_csv(SUMMARY))
