"""pyx: a fast Python environment manager for notebooks and editors."""

__version__ = "0.1.0"
