"""Training the Mini-GPT (phase 18): data, optimiser plumbing, loop, checkpoints, n-gram baseline."""
