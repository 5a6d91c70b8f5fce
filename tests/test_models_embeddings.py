"""engine.lm.models.embeddings: lookup, gradient routing (torch as oracle), save/load, CBOW, geometry tools."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from engine.lm.models.embeddings import (
    CBOW,
    Embedding,
    check_logits,
    effective_rank,
    make_cbow_pairs,
    nearest,
    pca_2d,
)
from engine.scratch.autograd.tensor import Tensor, cross_entropy


def test_shapes_and_lookup_is_onehot_matmul() -> None:
    emb = Embedding(10, 4, rng=np.random.default_rng(0))
    ids = np.array([[1, 2, 3], [3, 3, 9]])
    assert emb(ids).shape == (2, 3, 4) and emb(ids[0]).shape == (3, 4)
    assert np.array_equal(emb(ids[1]).data, np.eye(10, dtype=np.float32)[ids[1]] @ emb.weight.data)
    assert abs(float(Embedding(512, 128, rng=np.random.default_rng(1)).weight.data.std()) - 0.02) < 0.001


def test_gradient_matches_torch_and_repeated_ids_accumulate() -> None:
    rng = np.random.default_rng(0)
    emb = Embedding(7, 3, rng=rng, dtype=np.float64)
    ids = np.array([[3, 3, 0], [5, 3, 1]])
    up = rng.normal(size=(2, 3, 3))
    (emb(ids) * Tensor(up)).sum().backward()
    ref = torch.nn.Embedding(7, 3).double()
    with torch.no_grad():
        ref.weight.copy_(torch.from_numpy(emb.weight.data))
    (ref(torch.from_numpy(ids)) * torch.from_numpy(up)).sum().backward()
    np.testing.assert_allclose(emb.weight.grad, ref.weight.grad.numpy(), atol=1e-12)
    assert np.all(emb.weight.grad[[2, 4, 6]] == 0)


def test_out_of_range_and_non_integer_ids_raise() -> None:
    emb = Embedding(5, 2)
    for bad in ([5], [-1], [[0, 7]]):
        with pytest.raises(IndexError):
            emb(np.array(bad))
    with pytest.raises(TypeError):
        emb(np.array([0.5]))


def test_save_load_bit_exact_and_tamper_detected(tmp_path: Path) -> None:
    emb = Embedding(6, 3, rng=np.random.default_rng(2))
    npy, meta = emb.save(tmp_path / "e")
    back = Embedding.load(tmp_path / "e")
    assert back.weight.data.tobytes() == emb.weight.data.tobytes()
    table = np.load(npy)
    table[0, 0] += 1
    np.save(npy, table)
    with pytest.raises(ValueError):
        Embedding.load(tmp_path / "e")


def test_cbow_pairs_skip_edges() -> None:
    ctx, centre = make_cbow_pairs([10, 11, 12, 13, 14, 15], window=2)
    assert ctx.tolist() == [[10, 11, 13, 14], [11, 12, 14, 15]] and centre.tolist() == [12, 13]
    assert make_cbow_pairs([1, 2, 3], 2)[0].shape == (0, 4)


def test_cbow_matches_torch_forward_and_loss() -> None:
    rng = np.random.default_rng(3)
    model = CBOW(11, 4, rng=rng)
    ctx = rng.integers(0, 11, size=(5, 4))
    target = rng.integers(0, 11, size=5)
    logits = model(ctx)
    e, w, b = (torch.from_numpy(p.data.astype(np.float64)) for p in (model.embed.weight, model.w_out, model.b_out))
    ref = e[torch.from_numpy(ctx)].mean(dim=1) @ w.T + b
    np.testing.assert_allclose(logits.data, ref.numpy(), atol=1e-5)
    loss = cross_entropy(logits, target)
    ref_loss = torch.nn.functional.cross_entropy(ref, torch.from_numpy(target))
    assert abs(float(loss.data) - float(ref_loss)) < 1e-5


def test_tied_head_shape_check() -> None:
    model = CBOW(512, 8, rng=np.random.default_rng(0), tied=True)
    logits = model(np.zeros((2, 4), dtype=np.int64))
    assert logits.shape == (2, 512)
    check_logits(logits, 512)
    with pytest.raises(ValueError):
        check_logits(logits, 256)


def test_nearest_and_effective_rank_and_pca() -> None:
    table = np.array([[1.0, 0.0], [10.0, 2.0], [0.9, 0.05], [-1.0, 0.0]])
    assert [i for i, _ in nearest(table, table[0], 2, "cosine", {0})] == [2, 1]
    assert [i for i, _ in nearest(table, table[0], 2, "euclidean", {0})] == [2, 3]
    assert effective_rank(np.eye(8)) == pytest.approx(8.0)
    assert effective_rank(np.outer(np.arange(1, 6), np.arange(1, 4))) == pytest.approx(1.0)
    x = np.random.default_rng(0).normal(size=(50, 6)) * np.array([5, 3, 0.1, 0.1, 0.1, 0.1])
    pts, var = pca_2d(x)
    assert pts.shape == (50, 2) and var[0] > var[1] > 0.05
