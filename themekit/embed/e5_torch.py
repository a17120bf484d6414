"""The rebuilt multilingual-e5-small in PyTorch (the e5 backend's ``runtime: torch``)."""

from __future__ import annotations

import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np


def torch_model(folder: Path, device: str, precision: str, threads: int) -> Any:
    """The BertModel in ``folder`` at ``precision`` on ``device``: bf16/fp16 weights converted
    once (autocast re-casts every weight on every call), int8 = torch's dynamic quantisation
    of the linear layers."""
    import torch
    from transformers import AutoModel
    from transformers.utils import logging as hf_logging

    if device == "cpu" and torch.get_num_threads() != threads:
        torch.set_num_threads(threads)
    bar = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()  # no "Loading weights" bar in themekit's output
    try:
        model = AutoModel.from_pretrained(str(folder))
    finally:
        if bar:
            hf_logging.enable_progress_bar()
    model.eval()
    if precision == "int8":
        with warnings.catch_warnings():  # torch deprecates its quantized tensors for torchao
            warnings.simplefilter("ignore", UserWarning)
            model = torch.ao.quantization.quantize_dynamic(
                model, {torch.nn.Linear}, dtype=torch.qint8
            )
    elif precision == "bf16":
        model = model.to(torch.bfloat16)
    elif precision == "fp16":
        model = model.half()
    return model.to(device)


def torch_forward(model: Any, device: str) -> Callable[[np.ndarray, np.ndarray], np.ndarray]:
    import torch

    def forward(ids: np.ndarray, mask: np.ndarray) -> np.ndarray:
        with torch.inference_mode():
            t_mask = torch.from_numpy(mask).to(device)
            hidden = model(
                input_ids=torch.from_numpy(ids).to(device), attention_mask=t_mask
            ).last_hidden_state.float()
            m = t_mask.unsqueeze(-1).float()
            return ((hidden * m).sum(1) / m.sum(1)).cpu().numpy()

    return forward
