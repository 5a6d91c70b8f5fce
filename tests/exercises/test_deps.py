"""--deps: an exercise builds on the learner's earlier exercise only when that one passes (mine),
else on the reference; the choice travels in the request and its dependency is installed first."""

from __future__ import annotations

from pathlib import Path

import pytest

from workbench.content import load_catalog
from workbench.exercises.catalog import find
from workbench.exercises.files import solution_for, write_learner
from workbench.exercises.judge import exercise_block
from workbench.exercises.state import file_sha256, record_check
from workbench.exercises.substitute import load, unload
from workbench.store import connect


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("WORKBENCH_HOME", str(tmp_path))
    return tmp_path


def test_mine_only_when_the_dependency_passes(home: Path) -> None:
    catalog = load_catalog()
    dep, ref = find(catalog, "phase-08/lab-01"), find(catalog, "phase-09/lab-01")
    write_learner(dep.path, solution_for(dep), force=False)
    write_learner(ref.path, solution_for(ref), force=False)
    conn = connect()
    try:
        assert exercise_block(catalog, ref, ref.path, conn=conn)["deps"][0]["impl"] == "reference"  # not checked yet
        record_check(conn, dep, "failed", "run-1", file_sha256(dep.path))
        assert exercise_block(catalog, ref, ref.path, conn=conn)["deps"][0]["impl"] == "reference"
        record_check(conn, dep, "passed", "run-2", file_sha256(dep.path))
        block = exercise_block(catalog, ref, ref.path, conn=conn)
        assert block["deps"][0]["impl"] == "mine" and block["deps"][0]["sha256"] == file_sha256(dep.path)
        assert exercise_block(catalog, ref, ref.path, conn=conn, deps="reference")["deps"][0]["impl"] == "reference"
        dep.path.write_text(dep.path.read_text() + "\n# edited since it passed\n")
        assert exercise_block(catalog, ref, ref.path, conn=conn)["deps"][0]["impl"] == "reference"
    finally:
        conn.close()


def test_a_mine_dependency_is_installed_while_loaded(home: Path) -> None:
    import engine.scratch.autograd.tensor as T

    catalog = load_catalog()
    dep, ref = find(catalog, "phase-08/lab-01"), find(catalog, "phase-09/lab-01")
    write_learner(dep.path, solution_for(dep), force=False)
    write_learner(ref.path, solution_for(ref), force=False)
    before = T.Tensor.__dict__["__matmul__"]
    block = {**exercise_block(catalog, ref, ref.path), "deps": [{"target": dep.target, "path": str(dep.path),
                                                                "slots": dep.exercise.slots, "impl": "mine"}]}
    loaded = load(block)
    try:
        assert T.Tensor.__dict__["__matmul__"] is not before  # the learner's Tensor is in place
        assert T.Tensor.__dict__["__matmul__"].__code__.co_filename == str(dep.path)
    finally:
        unload(loaded)
    assert T.Tensor.__dict__["__matmul__"] is before
