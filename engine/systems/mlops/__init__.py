"""Phase 38: the machinery around a model that serves traffic.

`registry` (canonical SHA, semver tags, lineage, promotion, pruning, rollback), `variants` (the
tutor variants the registry holds, graded on the §A13 grid), `traffic` (salted-hash A/B
assignment, shadow calls, the statistics), `drift` (KL and PSI), `gate` (the per-bucket CI gate)
and `costs` (dollars per correct answer). Standard library plus NumPy/SciPy.
"""
