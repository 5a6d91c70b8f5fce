"""Train, cache and evaluate the verb-corpus MiniGPT: perplexity and candidate scoring.

`pretrained_minigpt()` trains the base model once per (config, seed, torch version) and keeps
the weights as safetensors under ~/.cache/lynx-workbench/verb-minigpt, so every lab of phases
26 and 28 starts from the same, bit-identical base. Training is deterministic on the CPU.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
from collections.abc import Callable, Sequence
from pathlib import Path

import torch
import torch.nn.functional as F
from safetensors.torch import load_file, save_file
from torch import Tensor, nn

from engine.cachefile import load_cached
from engine.quant import verb_corpus as vc
from engine.quant.minigpt import MiniGPT, MiniGPTConfig
from engine.threads import torch_threads

IGNORE = -100
BASE_TRAIN = {"steps": 300, "lr": 5e-3, "batch": 64, "weight_decay": 0.01}




def batch_tensors(texts: Sequence[str], device: str = "cpu") -> tuple[Tensor, Tensor]:
    """Inputs and targets for whole sentences framed by newlines; padding is ignored in the loss."""
    seqs = [[vc.PAD, *vc.encode(t), vc.PAD] for t in texts]
    n = max(len(s) for s in seqs) - 1
    x = torch.full((len(seqs), n), vc.PAD, dtype=torch.long)
    y = torch.full((len(seqs), n), IGNORE, dtype=torch.long)
    for i, s in enumerate(seqs):
        x[i, : len(s) - 1] = torch.tensor(s[:-1])
        y[i, : len(s) - 1] = torch.tensor(s[1:])
    return x.to(device), y.to(device)


def lm_loss(model: nn.Module, x: Tensor, y: Tensor) -> Tensor:
    logits = model(x).float()
    return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), y.reshape(-1), ignore_index=IGNORE)


def train(model: nn.Module, texts: Sequence[str], *, steps: int, lr: float, batch: int, seed: int,
          weight_decay: float = 0.01, params: list[nn.Parameter] | None = None,
          on_step: Callable[[int, float], None] | None = None) -> list[float]:
    """AdamW on random sentence batches with cosine decay; returns the per-step loss."""
    device = next(model.parameters()).device
    params = params if params is not None else [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=lr, weight_decay=weight_decay)
    gen = torch.Generator().manual_seed(seed)
    losses: list[float] = []
    model.train()
    for step in range(steps):
        for group in opt.param_groups:
            group["lr"] = lr * 0.5 * (1 + math.cos(math.pi * step / max(steps, 1)))
        idx = torch.randint(len(texts), (batch,), generator=gen).tolist()
        x, y = batch_tensors([texts[i] for i in idx], device)
        loss = lm_loss(model, x, y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        losses.append(float(loss.detach()))
        if on_step is not None:
            on_step(step, losses[-1])
    model.eval()
    return losses


@torch.no_grad()
def perplexity(model: nn.Module, texts: Sequence[str], batch: int = 256) -> float:
    """exp(mean next-character NLL) over every predicted character of the sentences."""
    device = next(model.parameters()).device
    total, count = 0.0, 0
    model.eval()
    for i in range(0, len(texts), batch):
        x, y = batch_tensors(texts[i: i + batch], device)
        logits = model(x).float()
        nll = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), y.reshape(-1), ignore_index=IGNORE,
                              reduction="sum")
        total += float(nll)
        count += int((y != IGNORE).sum())
    return math.exp(total / count)


@torch.no_grad()
def continuation_logprobs(model: nn.Module, prefixes: Sequence[str], continuations: Sequence[str]) -> Tensor:
    """log P(continuation | "\\n" + prefix) summed over its characters, one value per pair."""
    device = next(model.parameters()).device
    x, y = batch_tensors([p + c for p, c in zip(prefixes, continuations, strict=True)], device)
    logp = torch.log_softmax(model(x).float(), dim=-1)
    picked = logp.gather(-1, y.clamp(min=0).unsqueeze(-1)).squeeze(-1)
    mask = torch.zeros_like(picked, dtype=torch.bool)
    for i, (p, c) in enumerate(zip(prefixes, continuations, strict=True)):
        mask[i, len(p): len(p) + len(c)] = True  # target index j predicts character j of the text
    return (picked * mask).sum(-1).cpu()


def verb_tense_probes() -> list[vc.Sentence]:
    """One probe per (verb, tense, person) the base model was trained on, tail-free."""
    return [vc.make(v, t, p) for v in vc.VERBS for t in vc.TENSES for p in range(3)
            if vc.in_base_domain(vc.make(v, t, p))]


@torch.no_grad()
def verb_tense_accuracy(model: nn.Module, probes: Sequence[vc.Sentence] | None = None) -> float:
    """Score the five tense phrases of the probe's verb and person; correct when the marker's tense wins."""
    probes = list(probes) if probes is not None else verb_tense_probes()
    prefixes, conts = [], []
    for s in probes:
        for t in vc.TENSES:
            prefixes.append(s.prefix)
            conts.append(f" {vc.verb_phrase(s.verb, t, s.person)}.")
    scores = continuation_logprobs(model, prefixes, conts).view(len(probes), len(vc.TENSES))
    truth = torch.tensor([vc.TENSES.index(s.tense) for s in probes])
    return float((scores.argmax(-1) == truth).float().mean())


@torch.no_grad()
def irregular_accuracy(model: nn.Module, items: Sequence[vc.Sentence]) -> float:
    """Fraction of items where the irregular phrase ("went") beats the regularised one ("goed")."""
    prefixes = [s.prefix for s in items] * 2
    conts = [f" {s.phrase}{s.tail}." for s in items] + [
        f" {vc.regularised(s.verb, s.tense, s.person)}{s.tail}." for s in items]
    scores = continuation_logprobs(model, prefixes, conts).view(2, len(items))
    return float((scores[0] > scores[1]).float().mean())


def _cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "lynx-workbench" / "verb-minigpt"


def _cache_key(cfg: MiniGPTConfig, seed: int, train_cfg: dict) -> str:
    texts = [s.text for s in vc.base_split()[0]]
    blob = json.dumps({"cfg": cfg.__dict__, "seed": seed, "train": train_cfg, "torch": torch.__version__,
                       "corpus": hashlib.sha256("\n".join(texts).encode()).hexdigest()}, sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def pretrained_minigpt(seed: int = 0, cfg: MiniGPTConfig | None = None, train_cfg: dict | None = None,
                       cache: bool = True) -> MiniGPT:
    """The base MiniGPT trained on the base corpus (cached). Always returned on the CPU, in eval mode."""
    cfg = cfg or MiniGPTConfig()
    train_cfg = {**BASE_TRAIN, **(train_cfg or {})}
    path = _cache_dir() / f"{_cache_key(cfg, seed, train_cfg)}.safetensors"
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = MiniGPT(cfg)
    state = load_cached(path, lambda p: load_file(str(p))) if cache and path.exists() else None
    if state is not None:
        model.load_state_dict(state)
        return model.eval()
    texts = [s.text for s in vc.base_split()[0]]
    with torch.random.fork_rng(devices=[]), torch_threads():
        train(model, texts, seed=seed, **train_cfg)
    if cache:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(tmp))
        tmp.replace(path)
    return model.eval()


def state_hash(model: nn.Module) -> str:
    h = hashlib.sha256()
    for k, v in sorted(model.state_dict().items()):
        h.update(k.encode())
        h.update(v.detach().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()[:16]
