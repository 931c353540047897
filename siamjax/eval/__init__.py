"""Benchmarks, the evaluation runner and metrics (pure numpy)."""
