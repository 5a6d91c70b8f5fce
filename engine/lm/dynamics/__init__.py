"""Training dynamics (phase 19): the numbers that let a failed run be diagnosed from its log.

stats      Welford running statistics, global gradient norm and clipping, grad/weight and
           update/weight ratios, power-iteration spectral norm, dead units and heads, and the
           rolling-median + k*MAD loss-spike detector.
inspect    removable forward hooks on engine Modules and an Inspector that snapshots plain floats.
charlm     the subject the labs train: a character-level MLP language model on the verb corpus.
loop       an instrumented training loop (clipping, schedule, injections) that logs one record per step.
dashboard  seven matplotlib panels from the per-step log, embedded in one self-contained HTML page.
"""
