"""blurfuse: analysis package."""
