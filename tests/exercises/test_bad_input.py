"""A learner file the judge cannot use, or code that misbehaves: one clear message naming the file,
the slot and what was expected; never a traceback of ours. Judged in-process (fast)."""

from __future__ import annotations

from workbench.exercises.files import solution_text
from workbench.exercises.judge import judge_source

GRADCHECK = "phase-07/lab-03"
SIG = "def scalar_gradcheck(f, inputs, *, eps=1e-5, atol=1e-4, rtol=1e-3, accumulate=True):\n"


def test_syntax_error_names_file_and_line() -> None:
    v = judge_source(GRADCHECK, "x = 1\ndef scalar_gradcheck(f, inputs:\n    pass\n", run_lab=False)
    assert v.kind == "unusable" and "gradcheck.py:2: SyntaxError" in v.messages[0]


def test_missing_slot_names_the_slot_and_the_signature() -> None:
    v = judge_source(GRADCHECK, "def gradcheck(f, inputs):\n    return True\n", run_lab=False)
    assert v.kind == "unusable" and "slot scalar_gradcheck" in v.messages[0]
    v = judge_source("phase-07/lab-01", "class Value:\n    pass\n", run_lab=False)
    assert v.kind == "unusable" and "slot Value.__add__" in v.messages[0]


def test_wrong_signature_shows_expected() -> None:
    v = judge_source(GRADCHECK, "def scalar_gradcheck(f, inputs):\n    return True\n", run_lab=False)
    assert v.kind == "unusable" and "wrong signature scalar_gradcheck(f, inputs)" in v.messages[0]
    assert "expected scalar_gradcheck(f: 'Callable[..., Value]'" in v.messages[0]


def test_crash_in_their_code_names_file_line_and_function() -> None:
    v = judge_source(GRADCHECK, SIG + "    x = 1\n    return x / 0\n")
    assert not v.passed
    assert "gradcheck.py:3 in scalar_gradcheck: raised ZeroDivisionError" in v.messages[0]


def test_wrong_dtype_and_shape_are_named() -> None:
    text = solution_text("phase-02/lab-01")
    wrong_dtype = text.replace("return np.where(s > 0, e / np.where(s > 0, s, 1), 0).astype(x.dtype) if shift else e / s",
                               "return np.where(s > 0, e / np.where(s > 0, s, 1), 0).astype(np.float64) if shift else e / s")
    v = judge_source("phase-02/lab-01", wrong_dtype)
    assert not v.passed and "stable_softmax" in v.messages[0] and "expected dtype float32, got float64" in v.messages[0]
    wrong_shape = text.replace("return np.log(np.exp(x - m).sum(axis=-1)) + m[..., 0]",
                               "return np.log(np.exp(x - m).sum(axis=-1, keepdims=True)) + m")
    v = judge_source("phase-02/lab-01", wrong_shape)
    assert not v.passed and "log_sum_exp" in v.messages[0] and "expected shape" in v.messages[0]


def test_judging_leaves_the_reference_in_place() -> None:
    from engine.scratch.autograd import gradcheck

    before = gradcheck.scalar_gradcheck
    judge_source(GRADCHECK, SIG + "    return True\n")
    assert gradcheck.scalar_gradcheck is before
