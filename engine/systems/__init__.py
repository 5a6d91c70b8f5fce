"""Systems pieces: hardware probes and the roofline, kernels, distributed training, serving, observability,
MLOps."""
