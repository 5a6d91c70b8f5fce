"""Unit tests of engine/systems/distributed: the tensor-parallel shards against the full matmul (torch as
oracle), data-parallel gradient averaging against one large batch, ZeRO arithmetic, the budget guard."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from engine.systems.distributed import ddp
from engine.systems.distributed import tensor_parallel as tp
from engine.systems.distributed.budget import ENV_CEILING, BudgetExceeded, BudgetGuard
from engine.systems.distributed.memory import bytes_per_param, training_state_gb


@pytest.mark.parametrize("world", [1, 2, 4])
def test_tensor_parallel_layers_match_torch(world: int) -> None:
    rng = np.random.default_rng(world)
    x, w, b = rng.standard_normal((3, 5, 16)), rng.standard_normal((16, 32)), rng.standard_normal(32)
    full = torch.nn.functional.linear(torch.tensor(x), torch.tensor(w.T), torch.tensor(b)).numpy()
    assert np.allclose(tp.column_parallel(x, w, b, world), full)
    h = rng.standard_normal((3, 5, 32))
    assert np.allclose(tp.row_parallel(h, w.T, b[:16], world), h @ w.T + b[:16])
    table, ids = rng.standard_normal((37, 8)), rng.integers(0, 37, (4, 6))
    assert np.array_equal(tp.sharded_embedding(ids, table, world),
                          torch.nn.functional.embedding(torch.tensor(ids), torch.tensor(table)).numpy())


def test_row_parallel_bias_added_once() -> None:
    h, w, b = np.ones((1, 4)), np.ones((4, 2)), np.full(2, 10.0)
    assert np.allclose(tp.row_parallel(h, w, b, 2), [[14.0, 14.0]])


def test_averaged_shard_gradients_equal_large_batch() -> None:
    x, y, vocab = ddp.corpus_tensors()
    idx = torch.arange(64)
    full = ddp.make_model(vocab, 0)
    torch.nn.functional.cross_entropy(full(x[idx]), y[idx]).backward()
    grads = []
    for r in range(2):
        m = ddp.make_model(vocab, 0)
        shard = idx[r::2]
        torch.nn.functional.cross_entropy(m(x[shard]), y[shard]).backward()
        grads.append(torch.cat([p.grad.reshape(-1) for p in m.parameters()]))
    want = torch.cat([p.grad.reshape(-1) for p in full.parameters()])
    assert torch.allclose((grads[0] + grads[1]) / 2, want, atol=1e-6)


def test_uneven_shards_only_on_rank0() -> None:
    even = [len(ddp.shard_indices(1000, r, 2, 8, 10, False)) for r in range(2)]
    odd = [len(ddp.shard_indices(1000, r, 2, 8, 10, True)) for r in range(2)]
    assert even == [10, 10] and odd == [9, 10]


def test_zero_memory_arithmetic() -> None:
    assert bytes_per_param(0, 8) == 16.0
    assert training_state_gb(7e9) == pytest.approx(112.0)
    assert bytes_per_param(1, 8) == 2 + 2 + 12 / 8
    assert bytes_per_param(3, 8) == pytest.approx(16 / 8)
    assert tp.ring_allreduce_bytes(1.0, 2) == 1.0
    with pytest.raises(ValueError):
        bytes_per_param(4, 2)


def test_budget_guard(tmp_path, monkeypatch) -> None:
    monkeypatch.delenv(ENV_CEILING, raising=False)
    g = BudgetGuard(5.0, tmp_path / "log.jsonl")
    g.authorize("a", 3.0)
    g.record("a", 3.0)
    with pytest.raises(BudgetExceeded):
        g.authorize("b", 2.5)
    assert BudgetGuard(5.0, tmp_path / "log.jsonl").spent == 3.0
    monkeypatch.setenv(ENV_CEILING, "1.5")
    assert BudgetGuard(5.0, tmp_path / "x.jsonl").ceiling == 1.5


def test_tp_latency_model_crossover() -> None:
    assert tp.per_token_latency_ms(64, 2) > tp.per_token_latency_ms(64, 1)
    assert tp.per_token_latency_ms(4096, 2) < tp.per_token_latency_ms(4096, 1)
