"""blurfuse: train package."""
