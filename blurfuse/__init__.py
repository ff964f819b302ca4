"""blurfuse: long-tail, blur-robust image classification with an explainable web front end."""

__version__ = "0.1.0"
