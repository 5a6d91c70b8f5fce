"""Metrics from the loss, the gradient and per-example gradients: Fisher variants, conflicts, influence.

Conventions: g_i is the gradient of example i's own loss (loss_fn on that example alone), flat over
all parameters; ḡ the gradient of the batch loss. For a mean loss, ḡ = mean_i g_i.

    fisher_trace_empirical  mean_i ||g_i||^2 with the data's labels (a gradient second moment)
    fisher_trace_true       the same with labels drawn from the model, averaged over fisher_mc draws
                            (classification outputs: targets index the last axis of the output)
    fisher_welford_*        streaming over every example of every batch: Welford's running mean and
                            variance of the per-example diagonal, no matter how the batches are cut
    fisher_ema_trace        exponential moving average of the per-batch diagonal (decay ema_decay)
    fisher_group_top_share  Fisher mass grouped by module (one number per Linear/Embedding/Norm...), share
                            held by the top group_top_share of groups: where LoRA adapters pay off
    fisher_top_eig          largest eigenvalue of the empirical Fisher G^T G / n, from the n x n Gram
                            matrix G G^T / n (same non-zero spectrum, no P x P matrix)
    pcgrad_cosine           cosine of the two tasks' mean gradients (tasks from the batch's task ids,
                            else its two halves); < 0 is the conflict PCGrad projects away
    tracin_cross_influence  TracIn with one checkpoint and step 1: mean_{i in A, j in B} g_i . g_j,
                            the first-order drop of B's loss after an SGD step on A
"""

from __future__ import annotations

import torch
from torch import Tensor

from engine.research.crossmetric.registry import Batch, register


def effective_rank(x: Tensor) -> float:
    """exp of the entropy of the normalised singular values (Roy & Vetterli, 2007)."""
    s = torch.linalg.svdvals(x.reshape(x.shape[0], -1).to(torch.float64))
    p = s / s.sum()
    p = p[p > 0]
    return float(torch.exp(-(p * p.log()).sum()))


def _rows(b: Batch) -> tuple[Tensor, Tensor]:
    """Output rows (R, C) and their targets (R,), padding (-1 / out-of-range) dropped."""
    out, y = b.output.reshape(-1, b.output.shape[-1]), b.targets.reshape(-1)
    keep = (y >= 0) & (y < out.shape[-1])
    return out[keep], y[keep]


def classifier(b: Batch) -> bool:
    return (not b.targets.is_floating_point()) and b.targets.shape == b.output.shape[:-1]


@register("loss", (), "mean loss of the batch", "loss")
def _loss(b: Batch) -> float:
    return b.loss


@register("accuracy", (), "share of output rows whose arg-max is the target (classifiers; NaN otherwise)", "loss")
def _accuracy(b: Batch) -> float:
    if not classifier(b):
        return float("nan")
    out, y = _rows(b)
    return float((out.argmax(-1) == y).double().mean())


@register("prediction_entropy", (), "mean entropy (nats) of softmax(output) over rows", "loss")
def _pred_entropy(b: Batch) -> float:
    logp = b.output.reshape(-1, b.output.shape[-1]).double().log_softmax(-1)
    return float(-(logp.exp() * logp).sum(-1).mean())


@register("param_norm", (), "||theta||_2", "weights")
def _param_norm(b: Batch) -> float:
    return float(b.theta.norm())


@register("grad_norm", ("grads",), "||g||_2 of the batch loss", "gradient")
def _grad_norm(b: Batch) -> float:
    assert b.grads is not None
    return float(b.grads.norm())


@register("fisher_trace_empirical", ("per_sample",), "tr of the empirical Fisher: mean_i ||g_i||^2", "fisher")
def _fisher_trace(b: Batch) -> float:
    assert b.per_sample is not None
    return float(b.per_sample.square().sum(1).mean())


def sample_labels(b: Batch) -> Tensor:
    """Labels drawn from the model's softmax at every row; padding targets are kept."""
    probs = b.output.double().softmax(-1).reshape(-1, b.output.shape[-1])
    draws = torch.multinomial(probs.cpu(), 1, generator=b.gen).view(b.targets.shape).to(b.targets.device)
    return torch.where((b.targets >= 0) & (b.targets < b.output.shape[-1]), draws, b.targets)


@register("fisher_trace_true", ("per_sample",), "tr of the Fisher with labels sampled from the model (MC)",
          "fisher", applies=lambda v: True)
def _fisher_true(b: Batch) -> float:
    if not classifier(b):
        return float("nan")
    assert b.per_sample_fn is not None
    draws = [b.per_sample_fn(sample_labels(b)).square().sum(1).mean() for _ in range(int(b.opts["fisher_mc"]))]
    return float(torch.stack(draws).mean())


@register("gradient_noise_scale", ("per_sample",), "tr(Cov g_i) / ||mean g_i||^2 (McCandlish et al. simple B)",
          "gradient")
def _noise_scale(b: Batch) -> float:
    assert b.per_sample is not None
    g = b.per_sample
    mean = g.mean(0)
    return float(((g - mean).square().sum(1).mean()) / mean.square().sum())


@register("grad_cosine_mean", ("per_sample",), "mean cosine between the gradients of two different examples",
          "gradient")
def _grad_cos(b: Batch) -> float:
    assert b.per_sample is not None
    u = b.per_sample / b.per_sample.norm(dim=1, keepdim=True).clamp_min(1e-30)
    c, n = u @ u.T, u.shape[0]
    return float((c.sum() - c.diagonal().sum()) / (n * (n - 1))) if n > 1 else float("nan")


@register("fisher_welford_trace", ("per_sample",), "streaming (Welford) mean of g_i^2 over every example so far, "
          "summed: the empirical Fisher trace of all batches together", "fisher", reduce="last")
def _welford(b: Batch) -> float:
    assert b.per_sample is not None
    st = b.state
    for row in b.per_sample.square():          # one Welford update per example (exact, order-free result)
        st["n"] = st.get("n", 0) + 1
        mean = st.get("mean", torch.zeros_like(row))
        delta = row - mean
        mean = mean + delta / st["n"]
        st["m2"] = st.get("m2", torch.zeros_like(row)) + delta * (row - mean)
        st["mean"] = mean
    b.details["fisher_welford_n"] = st["n"]
    return float(st["mean"].sum())


@register("fisher_welford_rel_se", ("per_sample",), "standard error of the streaming Fisher trace / the trace "
          "(Welford variance of the per-example traces)", "fisher", reduce="last")
def _welford_se(b: Batch) -> float:
    assert b.per_sample is not None
    st = b.state
    for t in b.per_sample.square().sum(1).tolist():
        st["n"] = st.get("n", 0) + 1
        d = t - st.get("mean", 0.0)
        st["mean"] = st.get("mean", 0.0) + d / st["n"]
        st["m2"] = st.get("m2", 0.0) + d * (t - st["mean"])
    if st["n"] < 2:
        return float("nan")
    var = st["m2"] / (st["n"] - 1)
    return float((var / st["n"]) ** 0.5 / st["mean"])


@register("fisher_ema_trace", ("per_sample",), "EMA over batches of the empirical Fisher diagonal, summed "
          "(bias-corrected like Adam: weights decay^k / sum of weights)", "fisher", reduce="last")
def _ema(b: Batch) -> float:
    assert b.per_sample is not None
    st, beta = b.state, float(b.opts["ema_decay"])
    d = b.per_sample.square().mean(0)
    st["ema"] = beta * st.get("ema", torch.zeros_like(d)) + (1 - beta) * d
    st["k"] = st.get("k", 0) + 1
    return float(st["ema"].sum() / (1 - beta ** st["k"]))


def module_groups(b: Batch) -> dict[str, slice | list[slice]]:
    """Flat-vector ranges of each module's own parameters (grouped Fisher: one number per module)."""
    out: dict[str, list[slice]] = {}
    start = 0
    for name, p in b.model.named_parameters():
        mod = name.rsplit(".", 1)[0] if "." in name else name
        out.setdefault(mod, []).append(slice(start, start + p.numel()))
        start += p.numel()
    return out  # type: ignore[return-value]


@register("fisher_group_top_share", ("per_sample",), "share of the empirical Fisher held by the top "
          "group_top_share of modules (grouped Fisher; details['fisher_groups'] ranks them for LoRA)", "fisher")
def _grouped(b: Batch) -> float:
    assert b.per_sample is not None
    diag = b.per_sample.square().mean(0)
    groups = {k: float(sum(diag[s].sum() for s in v)) for k, v in module_groups(b).items()}  # type: ignore[union-attr]
    ranked = sorted(groups.items(), key=lambda kv: -kv[1])
    b.details["fisher_groups"] = ranked
    b.details["fisher_groups_floats"] = {"per_parameter": int(diag.numel()), "grouped": len(groups)}
    k = max(1, round(float(b.opts["group_top_share"]) * len(ranked)))
    total = sum(v for _, v in ranked)
    return sum(v for _, v in ranked[:k]) / total if total > 0 else float("nan")


def _fisher_gram_eigs(b: Batch) -> Tensor:
    assert b.per_sample is not None
    g = b.per_sample.double()
    return b.cached("fisher_gram", lambda: torch.linalg.eigvalsh(g @ g.T / g.shape[0]).clamp_min(0).flip(0))


@register("fisher_top_eig", ("per_sample",), "largest eigenvalue of the empirical Fisher (via the n x n Gram)",
          "fisher")
def _fisher_top(b: Batch) -> float:
    return float(_fisher_gram_eigs(b)[0])


@register("fisher_effective_rank", ("per_sample",), "exp entropy of the empirical Fisher's normalised spectrum",
          "fisher")
def _fisher_erank(b: Batch) -> float:
    e = _fisher_gram_eigs(b)
    p = e / e.sum()
    p = p[p > 0]
    return float(torch.exp(-(p * p.log()).sum()))


def task_split(b: Batch) -> tuple[Tensor, Tensor]:
    """Boolean masks of the two tasks: the two smallest task ids if given, else the batch's halves."""
    n = b.inputs.shape[0]
    if b.tasks is not None:
        ids = torch.unique(b.tasks)
        if len(ids) < 2:
            raise ValueError("pcgrad/tracin metrics: the batch's task ids hold fewer than two tasks")
        return b.tasks == ids[0], b.tasks == ids[1]
    first = torch.arange(n) < n // 2
    return first, ~first


@register("pcgrad_cosine", ("per_sample",), "cosine between the mean gradients of two tasks (PCGrad's test)",
          "conflict")
def _pcgrad(b: Batch) -> float:
    assert b.per_sample is not None
    a, c = task_split(b)
    ga, gc = b.per_sample[a].mean(0), b.per_sample[c].mean(0)
    return float(ga @ gc / (ga.norm() * gc.norm()).clamp_min(1e-30))


@register("gradient_conflict_fraction", ("per_sample",), "share of cross-task example pairs whose gradients "
          "point against each other (negative dot product)", "conflict")
def _conflict(b: Batch) -> float:
    assert b.per_sample is not None
    a, c = task_split(b)
    return float((b.per_sample[a] @ b.per_sample[c].T < 0).double().mean())


@register("tracin_cross_influence", ("per_sample",), "TracIn (one checkpoint, step 1): mean g_i . g_j for i in "
          "task A, j in task B", "influence")
def _tracin(b: Batch) -> float:
    assert b.per_sample is not None
    a, c = task_split(b)
    return float((b.per_sample[a] @ b.per_sample[c].T).mean())


@register("tracin_self_top_share", ("per_sample",), "share of total TracIn self-influence ||g_i||^2 held by the "
          "top 10% of examples (outlier / mislabel concentration)", "influence")
def _tracin_self(b: Batch) -> float:
    assert b.per_sample is not None
    s = b.per_sample.square().sum(1).sort(descending=True).values
    k = max(1, round(0.1 * len(s)))
    return float(s[:k].sum() / s.sum())
