"""The judge's property tests, one module per phase (pNN.py); helpers in `_compare`."""
