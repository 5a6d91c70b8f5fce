"""Phase 32, lab 05: the tutor agent planned by the course's model, next to the scripted planner.

The planner is the "phase-32" stage of the model cache (engine.apps.agents.tuned): the phase-28 tutor
(the spine's bilingual model with its adapter folded in) with a LoRA adapter, plus the embedding
rows of tokens it never read, trained on every turn of the scripted planner over the training
tasks generated from the verb table (engine.apps.agents.tasks): the state "plan: <sentence> | <what
the tools said> =>" answered by the next action in the course's tool-call format. States run
to 88 tokens, so the stage widens the RoPE model's window from 64 to 128 (one config switch).

Both planners run the same capped loop (engine.apps.agents.loop: tool-call budget, duplicate halt)
on the held-out tasks, whose sentences were never trained on (the 30 canonical sentences are
always held out). The model decodes greedily under the action mask (a oneOf of one branch per
tool and the answer), so every action parses; a task succeeds when the final answer is in
scope with exactly the gold correction (None for a correct sentence), or declines an
out-of-scope request (engine.apps.agents.tuned.task_success). Reported per planner and per task kind.
Both also run lab 01's 30 hand-written canonical sentences (engine.apps.agents.canonical), graded as
there, per category.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import torch

from engine.apps.agents import tasks as T
from engine.apps.agents import tuned as TD
from engine.apps.agents.canonical import CANONICAL, canonical_scores
from engine.apps.agents.loop import Caps, run_loop
from engine.apps.agents.planner import scripted_planner
from engine.core.run import Recorder
from engine.core.threads import torch_threads
from engine.labs._subset import every_kth
from engine.lm.models import registry


def model_planner(cfg: dict[str, Any], rec: Recorder) -> dict[str, Any]:
    quick = bool(cfg["quick"])
    model, vocab, ck = TD.tuned_planner_model(quick)
    registry.record_lineage(rec, ck, quick)
    stage = TD.QUICK if quick else TD.FULL
    train, test = T.split(float(stage["test_fraction"]), str(stage["salt"]))
    items = every_kth(test, int(cfg["n_test"]))
    seen = {t.sentence for t in train}
    caps = Caps(max_tool_calls=int(stage["max_steps"]))
    planners = {"scripted": scripted_planner, "model": TD.ModelPlanner(model, vocab, masked=True,
                                                                         max_new_tokens=int(cfg["max_new_tokens"]))}
    ok: dict[str, list[bool]] = {name: [] for name in planners}
    stops: dict[str, Counter[str]] = {name: Counter() for name in planners}
    calls: dict[str, int] = dict.fromkeys(planners, 0)
    with torch_threads(1), torch.no_grad():
        for k, task in enumerate(items):
            for name, planner in planners.items():
                run = run_loop(task.sentence, planner, caps)
                ok[name].append(TD.task_success(task, run.answer))
                stops[name][run.stop] += 1
                calls[name] += run.tool_calls
            if k < 3:
                rec.note(f"{task.sentence!r}: gold {task.gold!r}; model ok={ok['model'][-1]}")
            rec.progress(k + 1, len(items))
    n = max(len(items), 1)
    res: dict[str, Any] = {"checkpoint": ck.key, "context_len": int(model.cfg.context_len), "n_test": len(items),
                           "n_train_tasks": len(train), "test_tasks_in_train": sum(t.sentence in seen for t in items),
                           "canonical_in_train": sum(s in seen for s, _, _ in CANONICAL)}
    kinds = sorted({t.kind for t in items})
    for name in planners:
        res[f"task_success_{name}"] = sum(ok[name]) / n
        res[f"mean_tool_calls_{name}"] = calls[name] / n
        for stop in ("answer", "budget", "duplicate"):
            res[f"stopped_{stop}_{name}"] = stops[name][stop]
        for kind in kinds:
            sel = [o for o, t in zip(ok[name], items, strict=True) if t.kind == kind]
            res[f"success_{kind}_{name}"] = sum(sel) / len(sel)
        rec.log(0, planner=name, task_success=res[f"task_success_{name}"])
    with torch_threads(1), torch.no_grad():  # the 30 hand-written sentences, never trained on
        for name, planner in planners.items():
            for cat, share in canonical_scores(planner, caps).items():
                res[f"canonical_{cat}_{name}"] = share
            rec.log(1, planner=name, canonical_accuracy=res[f"canonical_all_{name}"])
    res["model_unparsed_actions"] = planners["model"].invalid  # type: ignore[attr-defined]
    res["model_over_scripted"] = res["task_success_model"] / max(res["task_success_scripted"], 1e-9)
    return res
