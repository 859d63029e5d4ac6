"""drillhall: chaos engineering and fire drills for on-call teams."""

__version__ = "0.1.0"
