"""Benchmarks and the helpers only they (and their tests) use; run each script directly."""
