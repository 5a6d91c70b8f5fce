"""`workbench sweep`: seeds x a config grid, resumable, aggregated with bootstrap intervals (core.py)."""
