"""Lab entrypoints: `fn(cfg: dict, rec: Recorder) -> dict`. Glue only; the maths lives in engine/<domain>/."""
