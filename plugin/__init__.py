"""deploy-gates: deployment verification gates as pytest tests."""

__version__ = "0.1.0"
