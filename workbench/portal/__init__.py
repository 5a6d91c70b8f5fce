"""The learner portal's workbench side: the Learning adapter over the workspace and the app wiring."""
