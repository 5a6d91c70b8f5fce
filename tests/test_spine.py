"""The spine's head: one config, two twins, the bilingual formats, the model cache, cached decoding.

All fast (random small models, a fake cache stage); the trained stages are exercised by the
phase 17-22 lab tests.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from engine.core.run import MemoryRecorder
from engine.lm.infer.sampling import Greedy, TopK
from engine.lm.infer.torch_decode import generate
from engine.lm.models import registry as R
from engine.lm.models import twin
from engine.lm.models.gpt import MiniGPT, MiniGPTConfig
from engine.lm.models.gpt_torch import GPT, linear_names, n_params
from engine.lm.text import bilingual as B

SMALL = {"d_model": 16, "n_heads": 4, "n_layers": 2, "d_ff": 32, "vocab_size": 23, "context_len": 12}


@pytest.fixture(autouse=True)
def _one_thread():
    """Tiny models: intra-op threads only add contention on a shared 2-core box (20x slower measured)."""
    from engine.core.threads import torch_threads

    with torch_threads(1):
        yield


@pytest.mark.parametrize("extra", [{}, {"sinusoidal": True, "rope": False}, {"norm": "rms", "ffn_bias": False}])
def test_twins_give_the_same_logits_both_ways(tmp_path, extra) -> None:
    cfg = MiniGPTConfig(**SMALL, **extra)
    ids = np.random.default_rng(1).integers(0, cfg.vocab_size, (3, cfg.context_len))
    np_model = MiniGPT(cfg, rng=np.random.default_rng(0), dtype=np.float64)
    t = twin.load_torch(twin.save_numpy(np_model, tmp_path / "a.safetensors"), dtype=torch.float64)
    assert np.abs(t(torch.from_numpy(ids)).detach().numpy() - np_model(ids).data).max() < 1e-12
    t2 = GPT(cfg, seed=3).double()
    back = twin.load_numpy(twin.save_torch(t2, tmp_path / "b.safetensors"), dtype=np.float64)
    assert np.abs(back(ids).data - t2(torch.from_numpy(ids)).detach().numpy()).max() < 1e-12


def test_numpy_twin_refuses_torch_only_variants() -> None:
    with pytest.raises(ValueError, match="torch twin"):
        MiniGPT(MiniGPTConfig(**SMALL, n_kv_heads=2))


@pytest.mark.parametrize("extra", [{}, {"n_kv_heads": 2}, {"n_kv_heads": 1}, {"kv_latent": 8}, {"n_experts": 3}])
def test_cached_forward_equals_full_forward(extra) -> None:
    cfg = MiniGPTConfig(**SMALL, **extra)
    model = GPT(cfg, seed=0).double().eval()
    ids = torch.randint(0, cfg.vocab_size, (2, cfg.context_len), generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        full = model(ids)
        cache = model.new_cache()
        parts = [model(ids[:, :5], cache=cache)]
        parts += [model(ids[:, p:p + 1], cache=cache, start_pos=p) for p in range(5, cfg.context_len)]
    assert (torch.cat(parts, 1) - full).abs().max() < 1e-12


def test_gqa_and_mla_shrink_the_cache() -> None:
    sizes = {}
    for name, extra in {"mha": {}, "gqa": {"n_kv_heads": 2}, "mla": {"kv_latent": 4}}.items():
        m = GPT(MiniGPTConfig(**SMALL, **extra), seed=0)
        c = m.new_cache()
        with torch.no_grad():
            m(torch.zeros(1, 4, dtype=torch.long), cache=c)
        sizes[name] = c.values_per_token()
    assert sizes == {"mha": 2 * 2 * 16, "gqa": 2 * 2 * 8, "mla": 2 * 4}


def test_causal_and_quant_shape() -> None:
    # the quantization phase's model is this config with sinusoidal positions: 103,680 parameters, 12 Linears
    m = GPT(MiniGPTConfig(vocab_size=64, context_len=64, sinusoidal=True, rope=False))
    assert n_params(m) == 103_680 and len(linear_names(m)) == 12
    ids = torch.randint(0, 64, (1, 20))
    bumped = ids.clone()
    bumped[0, 12] = (bumped[0, 12] + 1) % 64
    with torch.no_grad():
        assert torch.equal(m(ids)[0, :12], m(bumped)[0, :12])


@pytest.mark.parametrize("strategy", [Greedy(), TopK(k=5, tau=1.0)])
def test_kv_cache_decoding_gives_the_same_tokens(strategy) -> None:
    model = GPT(MiniGPTConfig(**SMALL), seed=1)
    a = generate(model, [1, 4, 5], 8, strategy, seed=7, use_cache=True)
    b = generate(model, [1, 4, 5], 8, strategy, seed=7, use_cache=False)
    assert a == b and len(a) == 8


def test_bilingual_formats() -> None:
    train, val = B.examples("train"), B.examples("val")
    assert len(train) == 16 * 18 and len(val) == 4 * 18
    assert {e.verb for e in val} == set(B.HELDOUT_VERBS) and not {e.verb for e in train} & set(B.HELDOUT_VERBS)
    e = next(x for x in train if x.key == "work:present_simple:3sg")
    assert B.pair_line(e) == "es:él trabaja / en:he works"
    for order in ("es-en", "en-es"):
        line, spans = B.pair_line(e, order), B.pair_spans(e, order)
        assert line[slice(*spans["es"])] == "él trabaja" and line[slice(*spans["en"])] == "he works"
    prompt, resp = B.prompt_response(e, "json")
    assert prompt == "json: he works =>" and json.loads(resp) == B.json_target(e)
    assert list(json.loads(resp)) == list(B.JSON_KEYS)
    mis = next(x for x in B.examples("train", label="mis_conjugated") if x.mis_type == "missing_third_person_s")
    assert B.tutor_response(mis).startswith(f" {mis.english} | missing third person s | es: ")
    assert len(B.unique_cells(train)) == 16 * 14


def test_model_cache_builds_once_keys_by_config_and_heals(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("LYNX_CACHE", str(tmp_path))
    R.forget()
    calls = []
    knobs = {"width": 3}

    def build(cfg, out):
        calls.append(cfg)
        (out / "w.json").write_text(json.dumps(cfg))

    R.register(R.Spec("test-stage", "other", lambda quick: {**knobs, "quick": quick}, lambda quick: "data",
                      build, lambda d: json.loads((d / "w.json").read_text()), code=(__name__,)))
    obj, ck = R.load("test-stage", quick=True)
    R.forget()
    assert R.load("test-stage", quick=True)[1] == ck and len(calls) == 1  # from disk, not rebuilt
    assert obj == {"width": 3, "quick": True} and ck.path.parent == tmp_path / "models"
    knobs["width"] = 4
    assert R.key("test-stage", True) != ck.key  # another config is another checkpoint
    knobs["width"] = 3
    (ck.path / "w.json").write_text("{}")  # tampered: sha256 no longer matches checkpoint.json
    R.forget()
    assert R.load("test-stage", quick=True)[0] == obj and len(calls) == 2
    assert any(p.name.startswith(ck.path.name + ".corrupt-") for p in (tmp_path / "models").iterdir())
    rec = MemoryRecorder(tmp_path / "run")
    R.record(rec, ck)
    R.record(rec, ck)
    assert rec.checkpoints == [ck.record()] and rec.checkpoints[0]["key"] == ck.key
    R.SPECS.pop("test-stage")
    R.forget()
