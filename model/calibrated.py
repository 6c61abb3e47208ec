"""Calibrated defaults, written by ``python -m experiments calibrate --write-defaults``.

Made from experiments/configs/calibration.toml. Do not edit by hand: rerun the
calibration (its record is in docs/calibration.md). The parameter classes take these
values as their defaults.
"""

#: Fitted population parameters.
POPULATION = {
    "oversight_rate": 0.00190596,
    "low_willingness_share": 0.212921,
    "habit_protected": 0.0870646,
    "low_willingness": 0.376952,
}
#: Fitted policy levers (every preset's default).
POLICY = {}
