"""Calibrated defaults, written by ``python -m experiments calibrate --write-defaults``.

Made from experiments/configs/calibration.toml. Do not edit by hand: rerun the
calibration (its record is in docs/calibration.md). The parameter classes take these
values as their defaults.
"""

#: Fitted population parameters.
POPULATION = {
    "oversight_rate": 0.00175051,
    "low_willingness_share": 0.20173,
    "habit_protected": 0.144327,
    "low_willingness": 0.40702,
}
#: Fitted policy levers (every preset's default).
POLICY = {}
