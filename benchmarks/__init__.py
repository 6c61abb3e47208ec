"""Speed and memory measurements of the model (run: python -m benchmarks)."""
