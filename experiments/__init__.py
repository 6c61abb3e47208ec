"""The research layer: experiment configs in, results folders out.

The modules follow the data flow, each usable from Python::

    from experiments import load_config, build_design, run_experiment
    config = load_config("experiments/configs/quickstart.toml")   # config
    specs = build_design(config)                                   # design
    report = run_experiment(config, workers=2)                     # execute + store + charts

``experiments.analysis.compare_policies`` and ``experiments.charts.draw_all``
work on a finished results folder.
"""

from experiments.config import ConfigError, ExperimentConfig, load_config, parse_config
from experiments.design import RunSpec, build_design
from experiments.runner import RunReport, run_experiment

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
