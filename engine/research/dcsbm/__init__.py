"""The DCSBM attention-drift study, scaled to run in seconds on a CPU.

A small transformer learns walks on a degree-corrected stochastic block model graph in which
some vertices ("jumpers") impose a rule: r steps after visiting one, the walk must be in a
given block. The question is whether the attention subspace (top singular vectors of QK^T or
AVW_O) drifts more just before the model breaks that rule than at other times.

graph.py    the DCSBM graph and its jumper rules
walks.py    walks that obey (or, for the null model, ignore) the rules
model.py    a tiny causal transformer that exposes Q, K, V, A and W_O per head
train.py    next-vertex training on walks
subspace.py top-k singular subspaces and the Grassmannian distance between them
drift.py    rule-deadline events, violation labels and drift at each lookback
metrics.py  AUROC by Mann-Whitney U, PR curve, logistic calibration, ECE
softmax_bound.py  the QK^T -> softmax -> AV -> AVW_O perturbation bound, stage by stage
"""
