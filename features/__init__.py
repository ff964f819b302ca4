"""blurfuse: features package."""
