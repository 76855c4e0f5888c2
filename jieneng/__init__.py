"""jieneng (节能): energy and IoT monitoring for public institutions."""

__version__ = "0.1.0"
