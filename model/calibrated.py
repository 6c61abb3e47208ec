"""Calibrated defaults, written by ``python -m experiments calibrate --write-defaults``.

Made from experiments/configs/calibration.toml. Do not edit by hand: rerun the
calibration (its record is in docs/calibration.md). The parameter classes take these
values as their defaults.
"""

#: Fitted population parameters.
POPULATION = {
    "oversight_rate": 0.0027621,
    "low_willingness_share": 0.125714,
    "habit_protected": 0.319305,
}
#: Fitted policy levers (every preset's default).
POLICY = {}
