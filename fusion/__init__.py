"""blurfuse: fusion package."""
