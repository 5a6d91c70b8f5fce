"""Resolve a target into runs, execute each in a subprocess, check, chart, and record it."""
