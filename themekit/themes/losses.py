"""The training loop and the losses of semi-supervised fine-tuning (``themes.semi_supervised.loss``).

- ``cosine`` (SetFit's default, sentence-transformers' ``CosineSimilarityLoss``): pairs of
  labelled texts, alternately of the same code (cosine pulled to 1) and of different codes
  (pulled to 0), ``batch_size`` pairs a step (:func:`themekit.themes.finetune.contrastive_pairs`);
- ``supcon``: supervised contrastive loss (Khosla et al. 2020) over a batch of ``2 x batch_size``
  texts drawn two per code, codes uniformly: every other text of the batch with the anchor's
  code is a positive and the rest are negatives, so one step uses every pair in the batch
  (the same texts, hence about the same compute, as a ``cosine`` step);
- ``softmax``: cross-entropy through a linear layer over the codes on the same batches, the
  layer trained at ``HEAD_LR`` and the encoder at the learning rate (SetFit's ``end_to_end``
  head training); the layer is dropped afterwards, the run's head is fitted on the vectors.

``max_pairs`` sets the steps per epoch (``ceil(max_pairs / batch_size)``) for every loss;
``max_pairs: auto`` (:func:`auto_pairs`) makes them grow with the number of segments given.
``warmup`` > 0 raises the learning rates linearly over that share of the steps and then lowers
them linearly to 0 (SetFit's and transformers' default schedule, with ``warmup_proportion``
0.1); 0 keeps them constant.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from themekit.progress import ProgressCallback

#: The losses ``themes.semi_supervised.loss`` accepts.
LOSSES = ("cosine", "supcon", "softmax")
#: Temperature of the supervised contrastive loss.
SUPCON_TEMPERATURE = 0.1
#: Learning rate of the ``softmax`` loss's linear layer (SetFit's head learning rate).
HEAD_LR = 1e-2
#: ``max_pairs: auto``: pairs per given segment (SetFit's ``num_iterations`` 20 of its former
#: default, each a positive and a negative pair per labelled example) ...
AUTO_PAIRS_PER_SEGMENT = 40
#: ... kept between these bounds (benchmarks/RESULTS.md, "Steps that grow with the codes given").
AUTO_PAIRS_RANGE = (640, 1280)


def auto_pairs(n_given: int) -> int:
    """``max_pairs: auto``: ``AUTO_PAIRS_PER_SEGMENT`` pairs per given segment, clamped to
    ``AUTO_PAIRS_RANGE``. The codebook's texts do not count: they are the same at every share,
    and extra steps over them and a handful of segments overfit (micro, one_to_one)."""
    low, high = AUTO_PAIRS_RANGE
    return int(min(high, max(low, AUTO_PAIRS_PER_SEGMENT * int(n_given))))


def balanced_batch(labels: Sequence[str], size: int, rng: np.random.Generator) -> list[int]:
    """About ``size`` distinct text indices: codes drawn uniformly, two texts of each (one where
    a code has a single text), so that a rare code weighs as much as a common one."""
    lab = np.asarray(list(labels), dtype=object)
    names = sorted(set(lab.tolist()))
    groups = [np.flatnonzero(lab == c) for c in names]
    chosen: list[int] = []
    seen: set[int] = set()
    for _ in range(max(1, size // 2)):
        idx = groups[int(rng.integers(len(groups)))]
        for k in rng.choice(idx, size=min(2, len(idx)), replace=False):
            if int(k) not in seen:
                seen.add(int(k))
                chosen.append(int(k))
    return chosen


def linear_warmup(step: int, total: int, warmup: float) -> float:
    """The learning-rate factor at ``step`` of ``total``: up from 0 to 1 over the first
    ``warmup`` share of the steps, then down linearly to 0 at the last step."""
    n_warm = max(1, round(warmup * total)) if warmup > 0 else 0
    if step < n_warm:
        return (step + 1) / (n_warm + 1)
    return max(0.0, (total - step) / max(1, total - n_warm))


def supcon_loss(emb: Any, codes: Any, temperature: float = SUPCON_TEMPERATURE) -> Any:
    """Mean over the anchors that have a positive of ``-mean log softmax`` of their positives
    (cosine similarities over ``temperature``, the anchor itself left out)."""
    import torch

    z = torch.nn.functional.normalize(emb, dim=-1)
    sim = z @ z.T / temperature
    eye = torch.eye(len(z), dtype=torch.bool, device=z.device)
    sim = sim.masked_fill(eye, float("-inf"))
    log_p = sim - torch.logsumexp(sim, dim=1, keepdim=True)
    pos = (codes[:, None] == codes[None, :]) & ~eye
    n_pos = pos.sum(dim=1)
    has = n_pos > 0
    if not bool(has.any()):
        return (emb * 0.0).sum()
    per_anchor = -(log_p.masked_fill(~pos, 0.0).sum(dim=1)[has]) / n_pos[has]
    return per_anchor.mean()


def train(
    embed: Callable[[list[int]], Any],
    labels: Sequence[str],
    params: list[Any],
    *,
    loss: str,
    pairs: Callable[[int], list[tuple[int, int, float]]],
    max_pairs: int,
    epochs: int,
    batch_size: int,
    learning_rate: float,
    rng: np.random.Generator,
    device: Any,
    warmup: float = 0.0,
    progress: ProgressCallback | None = None,
) -> tuple[list[float], int]:
    """Run the optimisation; ``embed(indices)`` gives the texts' embeddings with gradients,
    ``pairs(n)`` the ``cosine`` loss's pairs of an epoch. Returns the losses and the steps."""
    import torch

    if loss not in LOSSES:
        raise ValueError(f"unknown loss {loss!r}; expected one of {LOSSES}")
    names = sorted(set(labels))
    code_of = torch.tensor([names.index(c) for c in labels], device=device)
    groups: list[dict[str, Any]] = [{"params": params, "lr": learning_rate}]
    layer = None
    if loss == "softmax":
        dim = int(embed([0]).shape[-1])
        layer = torch.nn.Linear(dim, len(names)).to(device)
        groups.append({"params": list(layer.parameters()), "lr": HEAD_LR})
    optimizer = torch.optim.AdamW(groups)
    steps_per_epoch = -(-max_pairs // batch_size)
    total = steps_per_epoch * epochs
    schedule = None
    if warmup > 0:
        schedule = torch.optim.lr_scheduler.LambdaLR(
            optimizer, lambda k: linear_warmup(k, total, warmup)
        )
    report = progress or (lambda stage, done, total: None)
    report("fine-tune", 0, total)
    losses: list[float] = []
    step = 0
    for _ in range(epochs):
        epoch_pairs = pairs(max_pairs) if loss == "cosine" else []
        if loss == "cosine" and not epoch_pairs:
            break
        for k in range(steps_per_epoch):
            if loss == "cosine":
                batch = epoch_pairs[k * batch_size : (k + 1) * batch_size]
                idx = sorted({i for a, b, _ in batch for i in (a, b)})
                where = {i: n for n, i in enumerate(idx)}
                emb = embed(idx)
                a = emb[[where[i] for i, _, _ in batch]]
                b = emb[[where[j] for _, j, _ in batch]]
                target = torch.tensor([y for _, _, y in batch], dtype=torch.float32, device=device)
                value = torch.nn.functional.mse_loss(torch.cosine_similarity(a, b), target)
            else:
                idx = balanced_batch(labels, 2 * batch_size, rng)
                emb = embed(idx)
                if layer is not None:
                    value = torch.nn.functional.cross_entropy(layer(emb), code_of[idx])
                else:
                    value = supcon_loss(emb, code_of[idx])
            value.backward()
            torch.nn.utils.clip_grad_norm_(params, 1.0)
            optimizer.step()
            optimizer.zero_grad()
            if schedule is not None:
                schedule.step()
            losses.append(float(value.detach()))
            step += 1
            report("fine-tune", step, total)
    return losses, step
