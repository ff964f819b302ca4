"""Dataset fixtures (owned by the data engineer): `tiny_dataset` and friends."""
