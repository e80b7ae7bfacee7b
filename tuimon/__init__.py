"""tuimon: an interactive terminal network-traffic monitor."""

__version__ = "0.1.0"
