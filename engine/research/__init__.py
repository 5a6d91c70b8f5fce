"""The experiments' code, one sub-package per study: BK-Core / ResNet-BK, cross-metric, DCSBM, curriculum."""
