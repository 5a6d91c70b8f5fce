"""Statistics shared by the engine's studies (one home per method): bootstrap.py, BCa intervals."""
