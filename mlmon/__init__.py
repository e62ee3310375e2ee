"""mlmon: monitor machine-learning models in production from their request/response logs."""

__version__ = "0.1.0"
