"""Calibration: the method of simulated moments, its uncertainty, its config and its outputs."""

import ast
import math
import subprocess
import sys
import tomllib
from pathlib import Path

import numpy as np
import pytest

from experiments import calibrate
from experiments.config import ConfigError, parse_config

ROOT = Path(__file__).resolve().parent.parent

CONFIG = """
# Question: a test calibration.
[experiment]
name = "cal"
seed = 3
months = 6
borrowers = 1500
replications = 2
burn_in = 6

[[policy]]
name = "balanced"
preset = "balanced"

[calibration]
max_evaluations = 4

[[calibration.target]]
name = "overdue"
metric = "mean_overdue_rate"
value = 0.04
band = [0.03, 0.05]
source = "a test"

[[calibration.parameter]]
lever = "population.oversight_rate"
bounds = [0.001, 0.05]
"""


def _spec(tmp_path, text=CONFIG):
    path = tmp_path / "cal.toml"
    path.write_text(text)
    return calibrate.load_calibration(path)


class _Linear(calibrate.Evaluator):
    """A stand-in for the simulator: target means are linear in the parameters, plus noise."""

    A = np.array([[2.0, 0.5], [0.3, 1.0], [1.0, 1.0]])
    B = np.array([0.01, 0.02, 0.0])

    def __init__(self, config, spec, workers=1):
        self.config, self.spec, self.history = config, spec, []
        self._noise = np.random.default_rng(0).normal(0, 1e-3, (3, config.replications))
        self._noise -= self._noise.mean(axis=1, keepdims=True)

    def moments(self, theta):
        self.history.append({"theta": list(theta)})
        return (self.A @ np.asarray(theta) + self.B)[:, None] + self._noise

    def close(self):
        pass


def test_the_budget_of_evaluations_counts_the_finite_differences(tmp_path, monkeypatch):
    config, _ = _spec(tmp_path)
    target = calibrate.Target("t", "baseline", "balanced", "mean_overdue_rate", 0.5, 0.4, 0.6, "s")
    params = (
        calibrate.FreeParameter("population.oversight_rate", 0.0, 0.1, 0.05),
        calibrate.FreeParameter("population.apply_rate", 0.0, 0.1, 0.05),
    )
    monkeypatch.setattr(calibrate, "Evaluator", _Linear)
    for budget in (4, 7, 10, 25):
        spec = calibrate.CalibrationSpec((target,) * 3, params, max_evaluations=budget)
        result = calibrate.calibrate(config, spec)
        assert result.evaluations == len(result.history) <= budget
        assert result.steps <= (budget - 1) // 3
    too_small = calibrate.CalibrationSpec((target,) * 3, params, max_evaluations=3)
    with pytest.raises(ValueError, match="at least 4"):  # one step needs 1 + 2 + the final
        calibrate.calibrate(config, too_small)


def test_the_fit_recovers_known_parameters_and_their_sandwich_errors(tmp_path, monkeypatch):
    config, _ = _spec(tmp_path)
    truth = np.array([0.02, 0.03])
    values = _Linear.A @ truth + _Linear.B
    targets = tuple(
        calibrate.Target(
            f"t{k}", "baseline", "balanced", "mean_overdue_rate", v, v - 0.02, v + 0.02, "s"
        )
        for k, v in enumerate(values)
    )
    params = (
        calibrate.FreeParameter("population.oversight_rate", 0.0, 0.1, 0.05),
        calibrate.FreeParameter("population.apply_rate", 0.0, 0.1, 0.05),
    )
    spec = calibrate.CalibrationSpec(targets, params, max_evaluations=50)
    monkeypatch.setattr(calibrate, "Evaluator", _Linear)
    result = calibrate.calibrate(config, spec)
    np.testing.assert_allclose([p["value"] for p in result.parameters], truth, atol=1e-6)
    # Sandwich errors of a linear model: (A'WA)^-1 A'W(S + C/R)WA (A'WA)^-1.
    sd = np.full(3, 0.01)
    w = np.diag(1 / sd**2)
    bread = np.linalg.inv(_Linear.A.T @ w @ _Linear.A)
    sim = np.cov(_Linear(config, spec).moments(truth)) / config.replications
    meat = _Linear.A.T @ w @ (np.diag(sd**2) + sim) @ w @ _Linear.A
    expected = np.sqrt(np.diag(bread @ meat @ bread))
    np.testing.assert_allclose([p["se"] for p in result.parameters], expected, rtol=1e-3)
    assert all(t["in_band"] for t in result.targets)


def test_a_real_calibration_writes_its_record_and_the_defaults(tmp_path):
    config, spec = _spec(tmp_path)
    result = calibrate.calibrate(config, spec)
    # max_evaluations = 4 bounds every evaluation, finite differences and the final one
    # included (scipy's max_nfev counts only steps): one step of the fit here.
    assert result.evaluations == len(result.history) == 3 and result.steps == 1
    (param,) = result.parameters
    assert 0.001 <= param["value"] <= 0.05 and math.isfinite(param["se"])
    paths = calibrate.write(result, config, tmp_path / "out")
    assert [p.name for p in paths] == ["calibration.json", "calibration.md"]
    assert "Targets: fitted, not passed" in paths[1].read_text()
    target = calibrate.write_defaults(result, Path("cal.toml"), tmp_path / "calibrated.py")
    text = target.read_text()
    namespace: dict = {}
    exec(compile(ast.parse(text), str(target), "exec"), namespace)  # noqa: S102 - our own file
    assert namespace["POPULATION"] == {"oversight_rate": float(f"{param['value']:.6g}")}
    assert namespace["POLICY"] == {}
    lint = subprocess.run(
        [sys.executable, "-m", "ruff", "format", "--check", str(target)], capture_output=True
    )
    assert lint.returncode == 0, lint.stdout  # the generated module is formatted as committed


def test_the_model_takes_the_calibrated_values_as_defaults():
    from model import PopulationParams, RiskPolicy
    from model.calibrated import POLICY, POPULATION

    for name, value in POPULATION.items():
        assert getattr(PopulationParams(), name) == value
        assert name in PopulationParams.FITTED
    for name, value in POLICY.items():
        assert getattr(RiskPolicy(), name) == value
    described = {d["name"]: d for d in PopulationParams.describe()}
    assert all(described[n]["calibrated"] for n in POPULATION)


def test_the_shipped_calibration_states_its_targets_and_sources():
    config, spec = calibrate.load_calibration(ROOT / "experiments/configs/calibration.toml")
    assert len(spec.targets) >= len(spec.parameters)
    assert all(t.source for t in spec.targets)
    assert (ROOT / "docs/calibration.md").read_text().count("| population.") == len(spec.parameters)


@pytest.mark.parametrize(
    ("edit", "fragment"),
    [
        (('metric = "mean_overdue_rate"', 'metric = "overdue"'), "must be a summary metric"),
        (("band = [0.03, 0.05]", "band = [0.05, 0.03]"), "needs low < high"),
        (("value = 0.04", "value = 0.2"), "outside its band"),
        (('lever = "population.oversight_rate"', 'lever = "population.nope"'), "dotted numeric"),
        (("bounds = [0.001, 0.05]", "bounds = [0.001]"), "must be [low, high]"),
        (("max_evaluations = 4", "max_evaluations = 0"), "max_evaluations"),
        (("max_evaluations = 4", "max_evaluations = 2"), "max_evaluations must be at least 3"),
        (('source = "a test"', 'source = ""'), "source must be a non-empty string"),
        (('policy = "balanced"\npreset', 'policy = "balanced"\npreset'), None),
    ],
)
def test_bad_calibration_tables_give_one_line(tmp_path, edit, fragment):
    text = CONFIG.replace(*edit)
    if fragment is None:
        assert _spec(tmp_path, text)[1].targets
        return
    with pytest.raises(ConfigError, match=fragment.replace("[", r"\[")) as err:
        _spec(tmp_path, text)
    assert "\n" not in str(err.value)


def test_more_parameters_than_targets_is_refused(tmp_path):
    text = (
        CONFIG
        + '\n[[calibration.parameter]]\nlever = "population.apply_rate"\nbounds = [0.01, 0.1]\n'
    )
    with pytest.raises(ConfigError, match="at least as many targets"):
        _spec(tmp_path, text)


def test_the_command_line_refuses_bad_input_with_exit_2(tmp_path):
    from experiments.cli import main

    assert main(["calibrate", str(tmp_path / "missing.toml")]) == 2
    no_table = tmp_path / "plain.toml"
    no_table.write_text(CONFIG.split("[calibration]")[0])
    assert main(["calibrate", str(no_table)]) == 2
    assert main(["calibrate", str(no_table), "--workers", "0"]) == 2


def test_a_calibration_config_runs_as_an_experiment():
    raw = tomllib.loads(CONFIG)
    assert parse_config(raw).name == "cal"  # [calibration] is left to the calibrate command
