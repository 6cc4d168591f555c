"""Lake: a scientific data lake in one Python package."""

__version__ = "0.1.0"
