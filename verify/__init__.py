"""The gates, as pytest tests driven by the runbook spec, and the checks behind them."""
