"""Synthetic results folders (no simulation): every table of a real folder, drawn at random.

Used by the chart, comparison and export tests, which need folders of a given shape
(scenarios, policies, sweep points, replications) in milliseconds.
"""

from __future__ import annotations

import json
import tomllib
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from experiments import store
from experiments.analysis import summarise_timeseries
from experiments.config import ExperimentConfig, parse_config
from experiments.design import build_design, param_types
from model import EXTRA_COLUMNS, METRIC_COLUMNS
from model.metrics import LENDER_COLUMNS, METRICS
from model.observers import ROLL_STATES

HEAD = """[experiment]
name = "synthetic"
months = {months}
borrowers = 100
replications = {replications}
seed = 3
"""


def config_text(body: str = "", months: int = 12, replications: int = 3) -> str:
    """A config: the [experiment] table then ``body`` (scenarios, policies, sweep, ...)."""
    return HEAD.format(months=months, replications=replications) + body


def _monthly(rng: np.random.Generator, months: int, level: float) -> dict[str, np.ndarray]:
    out = {}
    for name in (*METRIC_COLUMNS, *EXTRA_COLUMNS):
        unit = METRICS[name].unit
        if name == "month":
            out[name] = np.arange(months)
        elif unit == "share":
            out[name] = np.clip(level * (1 + 0.3 * rng.standard_normal(months)), 0, 1)
        elif unit == "count":
            out[name] = rng.integers(50, 150, months).astype(float)
        else:
            out[name] = 1000 * level * (1 + rng.random(months))
    out["cum_net_loss"] = np.cumsum(out["net_loss"])
    return out


def _lenders(
    rng: np.random.Generator, config: ExperimentConfig, spec, level: float
) -> pd.DataFrame:
    """Each lender's months of a run: the market's metrics drawn again per lender."""
    names = next(p for p in config.policies if p.name == spec.policy).lender_names
    frames = []
    for j, name in enumerate(names):
        frame = pd.DataFrame(_monthly(rng, config.months, level))
        frame = frame[["month", *LENDER_COLUMNS]].assign(lender=j, lender_name=name)
        frame["failed"] = False
        frames.append(frame)
    out = pd.concat(frames, ignore_index=True)
    for column, share in (("balance", "balance_share"), ("originations", "origination_share")):
        out[share] = out[column] / out.groupby("month")[column].transform("sum")
    return out


def write_results(folder: Path, text: str, seed: int = 0) -> ExperimentConfig:
    """Write a complete synthetic results folder for the config ``text``; return the config."""
    config = parse_config(tomllib.loads(text))
    specs = build_design(config)
    types = param_types(config)
    schemas = store.schemas(types)
    rng = np.random.default_rng(seed)
    frames: dict[str, list[pd.DataFrame]] = {t: [] for t in store.TABLES}
    policies = [p.name for p in config.policies]
    for spec in specs:
        ids = {
            "run_id": spec.run_id,
            "scenario": spec.scenario,
            "policy": spec.policy,
            "replication": spec.replication,
            **spec.params,
        }
        level = 0.03 * (1 + policies.index(spec.policy)) * (1 + 0.1 * spec.replication)
        ts = pd.DataFrame(_monthly(rng, config.months, level))
        frames["timeseries"].append(ts.assign(**ids))
        frames["lender_timeseries"].append(_lenders(rng, config, spec, level).assign(**ids))
        frames["summary"].append(
            pd.DataFrame([{**ids, "seed": spec.seed, **summarise_timeseries(ts)}])
        )
        roll = pd.DataFrame(rng.dirichlet(np.ones(len(ROLL_STATES)), 5), columns=ROLL_STATES)
        roll.insert(0, "from_bucket", ["current", "1-30", "31-60", "61-90", "90+"])
        frames["rollrates"].append(roll.assign(**ids))
        vint = pd.DataFrame(
            [
                (v, m, 0.01 * m * level)
                for v in range(0, config.months, 3)
                for m in range(config.months - v)
            ],
            columns=["vintage", "months_on_book", "cum_writeoff_rate"],
        )
        frames["vintages"].append(vint.assign(**ids))
        frames["lender_vintages"].append(vint.assign(lender=0, lender_name=spec.policy, **ids))
    folder.mkdir(parents=True, exist_ok=True)
    for name, parts in frames.items():
        frame = pd.concat(parts, ignore_index=True)
        table = pa.Table.from_pandas(
            frame[schemas[name].names], schema=schemas[name], preserve_index=False
        )
        pq.write_table(table, folder / f"{name}.parquet")
    summary = pd.concat(frames["summary"], ignore_index=True)
    manifest = {
        "config": config.to_dict(),
        "config_hash": config.config_hash(),
        "runs": [{"run_id": r} for r in summary["run_id"]],  # as the runner lists them
    }
    (folder / store.MANIFEST).write_text(json.dumps(manifest))
    return config
