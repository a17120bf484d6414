"""The fine-tuning losses (themekit.themes.losses): balanced batches, the supervised contrastive
loss, and each loss moving held-out texts towards their code on the real all-MiniLM-L6-v2."""

from __future__ import annotations

import numpy as np
import pytest

from tests.test_finetune import _p_correct, finetune_on_half
from themekit.config import JobConfig
from themekit.themes import losses


def test_balanced_batch_draws_two_per_code_and_favours_no_code() -> None:
    labels = ["a"] * 40 + ["b"] * 3 + ["c"]
    rng = np.random.default_rng(0)
    counts = {"a": 0, "b": 0, "c": 0}
    for _ in range(200):
        batch = losses.balanced_batch(labels, 8, rng)
        assert len(batch) == len(set(batch)) <= 8
        for i in batch:
            counts[labels[i]] += 1
    # "a" has 13x the texts of "b" but is drawn about as often ("c" has a single text)
    assert counts["a"] < 1.5 * counts["b"]
    assert counts["c"] > 0
    assert losses.balanced_batch(labels, 8, np.random.default_rng(5)) == losses.balanced_batch(
        labels, 8, np.random.default_rng(5)
    )


def test_supcon_loss_is_low_when_codes_are_apart_and_high_when_mixed() -> None:
    import torch

    codes = torch.tensor([0, 0, 1, 1])
    apart = torch.tensor([[1.0, 0.0], [0.99, 0.1], [0.0, 1.0], [0.1, 0.99]])
    mixed = torch.tensor([[1.0, 0.0], [0.0, 1.0], [0.99, 0.1], [0.1, 0.99]])
    low, high = losses.supcon_loss(apart, codes), losses.supcon_loss(mixed, codes)
    assert float(low) < 0.1 < 2.0 < float(high)
    # no anchor with a positive: zero, with a gradient path
    lone = torch.tensor([[1.0, 0.0], [0.0, 1.0]], requires_grad=True)
    value = losses.supcon_loss(lone, torch.tensor([0, 1]))
    value.backward()
    assert float(value.detach()) == 0.0


def test_the_config_takes_a_loss_and_rejects_others() -> None:
    from pydantic import ValidationError

    cfg = JobConfig.model_validate(
        {"corpus": {"path": "x.csv"}, "themes": {"semi_supervised": {"loss": "supcon"}}}
    )
    assert cfg.themes.semi_supervised.loss == "supcon"
    assert cfg.themes.semi_supervised.learning_rate == 5e-5  # by loss, when not set
    default = JobConfig.model_validate({"corpus": {"path": "x.csv"}}).themes.semi_supervised
    assert (default.loss, default.learning_rate) == ("softmax", 5e-5)
    with pytest.raises(ValidationError, match="loss"):
        JobConfig.model_validate(
            {"corpus": {"path": "x.csv"}, "themes": {"semi_supervised": {"loss": "triplet"}}}
        )


@pytest.mark.slow  # fine-tunes MiniLM's top 2 layers twice (a few seconds)
@pytest.mark.parametrize("loss", ["supcon", "softmax"])
def test_each_loss_moves_held_out_texts_towards_their_code(loss: str) -> None:
    info, before, after, labels, train = finetune_on_half(
        max_pairs=64, batch_size=4, learning_rate=1e-4, trained_layers=2, loss=loss
    )
    assert info["loss"] == loss and info["steps"] == 16
    assert info["loss_last"] < info["loss_first"]
    assert _p_correct(after, labels, train) > _p_correct(before, labels, train) + 0.02


def test_linear_warmup_rises_then_falls_to_zero() -> None:
    f = [losses.linear_warmup(k, 40, 0.1) for k in range(40)]
    assert f[:4] == sorted(f[:4]) and f[3] < 1.0 == max(f) == f[4]
    assert f[4:] == sorted(f[4:], reverse=True) and 0.0 < f[-1] < 0.05
    assert losses.linear_warmup(0, 40, 0.0) == 1.0  # no warm-up: no ramp at the start


def _learning_rates(warmup: float, monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """AdamW's learning rate at each of the 8 steps of ``train`` on a small real parameter."""
    import torch

    w = torch.nn.Parameter(torch.randn(4, 3, generator=torch.Generator().manual_seed(0)))
    seen: list[float] = []
    real_step = torch.optim.AdamW.step

    def step(self: torch.optim.AdamW, *a: object, **k: object) -> object:
        seen.append(float(self.param_groups[0]["lr"]))
        return real_step(self, *a, **k)

    monkeypatch.setattr(torch.optim.AdamW, "step", step)
    _, steps = losses.train(
        lambda idx: w[idx],
        ["a", "a", "b", "b"],
        [w],
        loss="supcon",
        pairs=lambda n: [],
        max_pairs=8,
        epochs=1,
        batch_size=1,
        learning_rate=1e-3,
        rng=np.random.default_rng(0),
        device=torch.device("cpu"),
        warmup=warmup,
    )
    assert steps == 8
    return seen


def test_the_loop_follows_the_warmup_schedule(monkeypatch: pytest.MonkeyPatch) -> None:
    """``train`` with ``warmup`` changes AdamW's learning rate step by step; without, it stays."""
    assert _learning_rates(0.0, monkeypatch) == [1e-3] * 8
    ramp = _learning_rates(0.25, monkeypatch)
    assert ramp[0] < ramp[1] <= 1e-3 and max(ramp) == pytest.approx(1e-3)
    assert ramp[-1] < ramp[2] and ramp[-1] < 2e-4
