"""Run the benchmark table: ``python -m benchmarks [--quick]``."""

import argparse

from benchmarks.step_speed import main

parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
parser.add_argument("--quick", action="store_true", help="10k borrowers only (seconds)")
args = parser.parse_args()
main([(10_000, 60)] if args.quick else [(10_000, 60), (100_000, 60)])
