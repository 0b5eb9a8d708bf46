"""Reading and validating the runbook spec."""
