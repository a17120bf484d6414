"""Fine-tuning only the top layers of a sentence encoder on hidden states computed once.

With ``themes.semi_supervised.trained_layers: N`` the embeddings and the bottom layers of the
encoder stay frozen, so their output for a text never changes during fine-tuning: it is
computed once per text (:func:`bottom_states`, kept in memory for the fit) and every training
step runs only the top ``N`` layers, the pooling and the normalisation on it (:func:`top_embed`).
For multilingual-e5-small (12 layers) with ``N = 3`` a step costs about a quarter of a full
forward and backward pass, and the bottom states are computed once instead of once per step.

The model stays an ordinary ``SentenceTransformer``: its frozen layers are unchanged, so
``model.encode`` after fine-tuning gives the same vectors as :func:`top_embed` on the cached
states (tested), and the model saves and reloads as before. Works with BERT-style encoders
(``auto_model.embeddings`` and ``auto_model.encoder.layer``: BERT, MiniLM, e5, XLM-R).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from themekit.errors import ConfigError

logger = logging.getLogger(__name__)


def encoder_layers(model: Any) -> tuple[Any, Any]:
    """``(auto_model, its ModuleList of transformer layers)`` of a ``SentenceTransformer``."""
    import torch

    auto = getattr(model[0], "auto_model", None)
    layers = getattr(getattr(auto, "encoder", None), "layer", None)
    if (
        auto is None
        or not hasattr(auto, "embeddings")
        or not isinstance(layers, torch.nn.ModuleList)
    ):
        raise ConfigError(
            f"fine-tuning only the top layers needs a BERT-style encoder (embeddings + "
            f"encoder.layer); {type(auto).__name__} is not one: set it to null to fine-tune "
            f"every layer",
            key="themes.semi_supervised.trained_layers",
        )
    return auto, layers


def n_frozen_layers(model: Any, trained_layers: int | None) -> int | None:
    """How many bottom layers stay frozen; ``None`` when every layer is trained."""
    if trained_layers is None:
        return None
    _, layers = encoder_layers(model)
    return max(0, len(layers) - trained_layers) if trained_layers < len(layers) else None


def bottom_states(
    model: Any, texts: Sequence[str], n_frozen: int, *, batch_size: int = 32
) -> list[Any]:
    """Each text's hidden states after the embeddings and the first ``n_frozen`` layers (one
    ``(tokens, hidden)`` tensor per text, padding removed), computed without gradients."""
    import torch
    from sentence_transformers.util import batch_to_device

    auto, layers = encoder_layers(model)
    was_training = model.training
    model.eval()
    states: list[Any] = []
    auto.encoder.layer = torch.nn.ModuleList(list(layers)[:n_frozen])
    try:
        with torch.no_grad():
            for start in range(0, len(texts), batch_size):
                feats = batch_to_device(
                    model.preprocess(list(texts[start : start + batch_size])), model.device
                )
                keep = {
                    k: feats[k]
                    for k in ("input_ids", "attention_mask", "token_type_ids")
                    if k in feats
                }
                hidden = auto(**keep, return_dict=True).last_hidden_state
                mask = feats["attention_mask"].bool()
                states.extend(hidden[i][mask[i]].clone() for i in range(len(hidden)))
    finally:
        auto.encoder.layer = layers
        model.train(was_training)
    return states


def _mask_for(auto: Any, hidden: Any, mask: Any) -> Any:
    """The attention mask the layers expect (transformers' own builder)."""
    try:
        from transformers.masking_utils import create_bidirectional_mask
    except ImportError:  # pragma: no cover - transformers < 5
        return auto.get_extended_attention_mask(mask, hidden.shape[:2])
    return create_bidirectional_mask(config=auto.config, inputs_embeds=hidden, attention_mask=mask)


def top_embed(model: Any, states: Sequence[Any], n_frozen: int) -> Any:
    """Sentence embeddings from cached bottom states: the layers above ``n_frozen``, then the
    model's pooling and normalisation modules (with gradients when the model is training)."""
    import torch
    from torch.nn.utils.rnn import pad_sequence

    auto, layers = encoder_layers(model)
    hidden = pad_sequence(list(states), batch_first=True)
    lengths = torch.tensor([len(s) for s in states], device=hidden.device)
    mask = (torch.arange(hidden.shape[1], device=hidden.device)[None, :] < lengths[:, None]).long()
    ext = _mask_for(auto, hidden, mask)
    for layer in list(layers)[n_frozen:]:
        out = layer(hidden, ext)
        hidden = out[0] if isinstance(out, tuple) else out
    features: dict[str, Any] = {"token_embeddings": hidden, "attention_mask": mask}
    for module in list(model)[1:]:
        features = module(features)
    return features["sentence_embedding"]


def encode_states(model: Any, states: Sequence[Any], n_frozen: int, *, batch_size: int = 64) -> Any:
    """Unit-length float32 vectors (numpy) for cached states, as ``model.encode`` gives."""
    import numpy as np
    import torch

    from themekit.embed.base import l2_normalize

    was_training = model.training
    model.eval()
    out: list[np.ndarray] = []
    with torch.no_grad():
        for start in range(0, len(states), batch_size):
            emb = top_embed(model, states[start : start + batch_size], n_frozen)
            out.append(emb.float().cpu().numpy())
    model.train(was_training)
    if not out:
        return np.zeros((0, model[0].auto_model.config.hidden_size), dtype=np.float32)
    return l2_normalize(np.vstack(out).astype(np.float32))


def check_split(model: Any, texts: Sequence[str], n_frozen: int, *, atol: float = 1e-4) -> None:
    """Raise unless the cached bottom states of a few ``texts`` through the top layers give
    ``model.encode``'s vectors (an architecture whose layers need more than the hidden states
    and the attention mask, e.g. MPNet's relative position bias, would differ)."""
    import numpy as np

    sample = list(texts[:4])
    if not sample:
        return
    direct = model.encode(sample, convert_to_numpy=True, normalize_embeddings=True)
    cached = encode_states(model, bottom_states(model, sample, n_frozen), n_frozen)
    gap = float(np.abs(np.asarray(direct, dtype=np.float32) - cached).max())
    if gap > atol:
        name = type(model[0].auto_model).__name__
        raise ConfigError(
            f"this encoder's layers cannot be run on cached states ({name}: vectors differ by "
            f"{gap:.2g}); set it to null to fine-tune every layer",
            key="themes.semi_supervised.trained_layers",
        )


def trainable_top(model: Any, n_frozen: int) -> list[Any]:
    """Freeze everything below the layer ``n_frozen``; return the parameters left to train (the
    top layers and any module after the transformer, e.g. a Dense projection)."""
    _, layers = encoder_layers(model)
    for p in model.parameters():
        p.requires_grad_(False)
    params: list[Any] = []
    for layer in list(layers)[n_frozen:]:
        params.extend(layer.parameters())
    for module in list(model)[1:]:
        params.extend(module.parameters())
    for p in params:
        p.requires_grad_(True)
    return params
