"""Shared pytest configuration. Fixtures live in per-package plugin modules so each can evolve alone."""

import os

import matplotlib

matplotlib.use("Agg")
os.environ.setdefault("OMP_NUM_THREADS", "2")

pytest_plugins = ["tests.fixtures_data", "tests.fixtures_model"]
