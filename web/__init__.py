"""blurfuse: web package."""
