"""The phase-33 server's model paths: stop ids end a reply the same way in every policy (and
ignore_eos decodes past them), and the served phase-28 tutor (registry, adapter folded in, on the
NumPy twin's slot decoder) gives exactly the torch model's own greedy KV-cache tokens."""

from __future__ import annotations

import pytest

from engine.systems.serve.decode import ContinuousBatch, Job
from engine.systems.serve.lm import SlotDecoder, TutorLM
from engine.systems.serve.scheduler import DecodeWorker

SENTENCES = ["He goed to school.", "she work", "I will going home.", "they eated", "we go", "it run"]


def _stopped(tokens: list[int], stop: tuple[int, ...]) -> list[int]:
    return next((tokens[:i] for i, t in enumerate(tokens) if t in stop), tokens)


def test_stop_ids_end_replies_alike_in_every_policy() -> None:
    lm = TutorLM.build(seed=7, max_new_tokens=12)
    prompts = [lm.prompt_ids(s) for s in SENTENCES]
    full = [lm.decode_alone(p) for p in prompts]
    common = max(set(full[1]) - set(full[0]), key=full[1].count)  # emitted by some replies, not by the first
    lm.stop = (common,)
    want = [_stopped(f, lm.stop) for f in full]
    assert len(want[0]) == 12 and any(len(w) < 12 for w in want)
    assert [lm.decode_alone(p) for p in prompts] == want
    assert [lm.decode_alone(p, stop=()) for p in prompts] == full
    for policy in ("sequential", "static", "continuous"):
        w = DecodeWorker(lm, policy, slots=4, max_wait_ms=5.0)
        try:
            got = [f.result(60).tokens for f in [w.submit(p, 12) for p in prompts]]
            past = [f.result(60).tokens for f in [w.submit(p, 12, ignore_eos=True) for p in prompts]]
        finally:
            w.close()
        assert got == want, policy
        assert past == full, policy


@pytest.mark.slow  # builds the phase-28 cache stage when it is missing (a minute or more)
def test_served_tutor_equals_the_torch_models_own_decoding() -> None:
    torch = pytest.importorskip("torch")
    from engine.systems.serve.lm import tutor_sentences
    from engine.torchstack.finetune.tutor import generate_ids, tutor

    lm = TutorLM.build(model="phase-28", quick=True, max_new_tokens=40)
    model, _, ck = tutor(True)
    assert lm.name == f"phase-28@{ck.key}" and lm.stop
    texts = list(tutor_sentences()[:10])
    prompts = [lm.prompt_ids(s) for s in texts]
    with torch.no_grad():
        ref = [generate_ids(model, p, 40, lm.stop) for p in prompts]
    assert [lm.decode_alone(p) for p in prompts] == ref
    jobs = [Job(p, 40, lm.stop) for p in prompts]
    batch, waiting = ContinuousBatch(SlotDecoder(lm.model, 4)), list(jobs)
    while waiting or batch.active:
        batch.iterate([waiting.pop(0) for _ in range(min(batch.free(), len(waiting)))])
    assert [j.tokens for j in jobs] == ref
    assert sum(" | " in lm.text(r) for r in ref) >= len(ref) // 2  # tutor-format replies
