"""Cross-metric analysis of small networks, every metric measured under identical conditions.

A CPU-sized core of the TensorScope idea (seed 004): compute several metrics of one network on
the same batch, check each against an exact value where one exists, then correlate them.

    models      a small MLP and a tiny transformer whose heads can be gated (head_gate buffer)
    flat        parameters as one flat vector, and the loss as a function of it
    fisher      per-sample gradients; empirical and true Fisher diagonals, per parameter group
    curvature   Hessian-vector products, Hutchinson trace, power iteration, Lanczos, exact Hessian
    cka         linear CKA and debiased CKA between representations
    heads       per-head metrics: ablation loss drop, gate Fisher, slices of the Fisher/Hessian
    table       Spearman correlation matrix of a metric table, with Benjamini-Hochberg FDR
    verbs_lm    a character-level language model task over the verb corpus (section A13)
"""
