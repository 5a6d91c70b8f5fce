"""Models built on the engine: BK-Core / ResNet-BK, attention baselines."""
