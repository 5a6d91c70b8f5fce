"""Exercises: the learner implements a lab's slots, the workbench judges them (docs/EXERCISES.md)."""
