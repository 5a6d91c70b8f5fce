"""Research analyses that sit on top of the engine (one sub-package per study)."""
