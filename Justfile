# Lynx Workbench tasks. `just` lists them.
set shell := ["bash", "-cu"]

py := ".venv/bin/python"

default:
    @just --list

# create .venv with the CPU build of torch and the project (editable, with dev tools)
setup:
    python3 -m venv .venv && .venv/bin/pip install -q torch==2.13.0 -e '.[dev]'

# the default test suite (under 10 minutes on 2 cores)
test *ARGS:
    {{py}} -m pytest {{ARGS}}

# long runs too: full-mode labs, big sweeps
test-all:
    {{py}} -m pytest -m "slow or not slow"

lint:
    .venv/bin/ruff check workbench engine tests benchmarks
    .venv/bin/mypy
    .venv/bin/workbench validate

# every benchmark in benchmarks/, each printing ratios against a baseline measured in the same run
bench:
    for f in benchmarks/bench_*.py; do echo "== $f"; {{py}} "$f" || exit 1; done

# mutation testing: inject one-line engine bugs (tests/mutants/*.yaml), run the labs' own checks
mutate *ARGS:
    {{py}} -m benchmarks.mutate {{ARGS}}

tui:
    .venv/bin/workbench
