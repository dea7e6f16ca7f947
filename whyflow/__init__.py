"""whyflow core: the analysis spec, errors, contract constants and run-wide settings."""

__all__ = ["__version__"]
__version__ = "0.1.0"
