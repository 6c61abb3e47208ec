"""The research layer: experiment configs in, results folders out.

The modules follow the data flow, each usable from Python::

    from experiments import load_config, build_design, run_experiment
    config = load_config("experiments/configs/quickstart.toml")   # config
    specs = build_design(config)                                   # design
    report = run_experiment(config, workers=2)                     # execute + store + charts

``experiments.analysis.compare_policies`` and ``experiments.charts.draw_all``
work on a finished results folder.
"""

from typing import Any

from experiments.config import ConfigError, ExperimentConfig, load_config, parse_config
from experiments.design import RunSpec, build_design


def __getattr__(name: str) -> Any:
    # The runner pulls in matplotlib and tqdm; import it on first use so that
    # worker processes, which only need the executor, start quickly.
    if name in ("RunReport", "run_experiment"):
        from experiments import runner

        return getattr(runner, name)
    raise AttributeError(f"module 'experiments' has no attribute {name!r}")


__all__ = [
    "ConfigError",
    "ExperimentConfig",
    "RunReport",
    "RunSpec",
    "build_design",
    "load_config",
    "parse_config",
    "run_experiment",
]
