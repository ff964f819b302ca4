"""Experiments that train several runs and compare them: recipe comparisons and ablations."""
