"""streamproc: streaming drift and integration monitoring for ML models."""

__version__ = "0.1.0"
