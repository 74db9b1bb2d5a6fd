"""Benchmarks: `python -m bench SCENARIO [--quick] [--json]`."""
