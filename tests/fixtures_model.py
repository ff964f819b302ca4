"""Model fixtures (owned by the fusion engineer): `tiny_checkpoint` and friends."""
