"""The rebuilt multilingual-e5-small exported to ONNX, run with ONNX Runtime on the CPU.

:func:`build_e5_onnx` exports the ``BertModel`` of a rebuilt model folder
(:func:`themekit.embed.e5.rebuild_e5_model`) once, with mean pooling inside the graph, to
``model.onnx`` (fp32) and quantises it to ``model_int8.onnx`` (ONNX Runtime's dynamic
quantisation of every MatMul, int8 weights per output channel; the token embeddings stay
fp32). Both go into a sibling folder of the model (``<model folder>-onnx<v>``) with the
sha256 of every file and of the weights they came from in ``themekit_onnx.json``; they are
checked on every load and rebuilt when missing, changed or built from other weights.
Needs the ``onnx`` and ``onnxruntime`` packages (``pip install themekit[onnx]``).
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from themekit.embed.base import package_version
from themekit.embed.built import build_once, file_hashes, verify_folder, write_json
from themekit.manifest import sha256_file

logger = logging.getLogger(__name__)

#: Bump when the exported files change; part of the folder name.
ONNX_VERSION = 1
RECORD = "themekit_onnx.json"
FILES = {"fp32": "model.onnx", "int8": "model_int8.onnx"}
OPSET = 17


def e5_onnx_dir(model_dir: Path) -> Path:
    return model_dir.parent / f"{model_dir.name}-onnx{ONNX_VERSION}"


def verify_onnx_dir(folder: Path, model_dir: Path) -> str | None:
    """``None`` when the exported files have their recorded sha256 and come from the weights
    now in ``model_dir``; otherwise what is wrong."""
    import json

    problem = verify_folder(folder, RECORD, "onnx_version", ONNX_VERSION)
    if problem is not None:
        return problem
    record = json.loads((folder / RECORD).read_text(encoding="utf-8"))
    if record.get("weights_sha256") != sha256_file(model_dir / "model.safetensors"):
        return "exported from other weights than the model folder's"
    return None


def build_e5_onnx(model_dir: Path, *, force: bool = False) -> Path:
    """The folder holding ``model.onnx`` and ``model_int8.onnx`` for ``model_dir``, exported
    and quantised when needed (about a minute on 2 cores, once)."""
    return build_once(
        e5_onnx_dir(model_dir),
        lambda folder: verify_onnx_dir(folder, model_dir),
        lambda tmp: _write_onnx_dir(tmp, model_dir),
        "multilingual-e5-small exported to ONNX",
        force=force,
    )


def _pooled_module(model_dir: Path) -> Any:
    import torch
    from transformers import AutoModel

    class Pooled(torch.nn.Module):
        """BertModel + mean over the masked tokens: (ids, mask) -> (batch, hidden)."""

        def __init__(self) -> None:
            super().__init__()
            self.bert = AutoModel.from_pretrained(str(model_dir), attn_implementation="eager")

        def forward(self, input_ids: Any, attention_mask: Any) -> Any:
            hidden = self.bert(input_ids=input_ids, attention_mask=attention_mask)[0]
            m = attention_mask.unsqueeze(-1).to(hidden.dtype)
            return (hidden * m).sum(1) / m.sum(1)

    return Pooled().eval()


def _write_onnx_dir(folder: Path, model_dir: Path) -> None:
    import torch
    from onnxruntime.quantization import QuantType, quantize_dynamic

    folder.mkdir(parents=True)
    module = _pooled_module(model_dir)
    ids = torch.tensor([[0, 35378, 12, 2], [0, 35378, 2, 1]], dtype=torch.int64)
    mask = torch.tensor([[1, 1, 1, 1], [1, 1, 1, 0]], dtype=torch.int64)
    axes = {0: "batch", 1: "tokens"}
    # the exporter warns about tracing details (Python-side checks, advanced indexing) that do
    # not apply to these fixed-rank inputs; the test compares the exported model's vectors
    with torch.inference_mode(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            module,
            (ids, mask),
            str(folder / FILES["fp32"]),
            input_names=["input_ids", "attention_mask"],
            output_names=["pooled"],
            dynamic_axes={"input_ids": axes, "attention_mask": axes, "pooled": {0: "batch"}},
            opset_version=OPSET,
            dynamo=False,  # the TorchScript exporter: no onnxscript needed
        )
    # the quantiser logs every tensor at INFO on the root logger, and at WARNING advice to
    # pre-process the model first (shape inference; nothing for this graph): neither is news
    # to a user of themekit, who would see "WARNING:root:Please consider ..." on stderr
    logging.disable(logging.WARNING)
    try:
        quantize_dynamic(
            str(folder / FILES["fp32"]),
            str(folder / FILES["int8"]),
            op_types_to_quantize=["MatMul"],
            per_channel=True,
            weight_type=QuantType.QInt8,
        )
    finally:
        logging.disable(logging.NOTSET)
    write_json(
        folder / RECORD,
        {
            "model_dir": model_dir.name,
            "weights_sha256": sha256_file(model_dir / "model.safetensors"),
            "onnx_version": ONNX_VERSION,
            "exported_with": {
                "torch": package_version("torch"),
                "onnx": package_version("onnx"),
                "onnxruntime": package_version("onnxruntime"),
                "opset": OPSET,
            },
            "int8": "onnxruntime.quantization.quantize_dynamic(MatMul, per_channel, QInt8)",
            "files": file_hashes(folder),
        },
    )


def onnx_forward(
    model_dir: Path, precision: str, threads: int
) -> Callable[[np.ndarray, np.ndarray], np.ndarray]:
    """(input ids, attention mask) -> mean-pooled float32 vectors, with an ONNX Runtime CPU
    session on the fp32 or int8 export of ``model_dir`` using ``threads`` threads."""
    try:
        import onnxruntime as ort
    except ImportError as exc:  # pragma: no cover - the extra is installed in the tests
        from themekit.errors import ConfigError

        raise ConfigError(
            "embedding.runtime: onnxruntime needs the onnx and onnxruntime packages: "
            "pip install 'themekit[onnx]'",
            key="embedding.runtime",
        ) from exc
    folder = build_e5_onnx(model_dir)
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    opts.inter_op_num_threads = 1
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    opts.log_severity_level = 3  # no warnings about unused initialisers on stderr
    session = ort.InferenceSession(
        str(folder / FILES[precision]), opts, providers=["CPUExecutionProvider"]
    )

    def forward(ids: np.ndarray, mask: np.ndarray) -> np.ndarray:
        (pooled,) = session.run(None, {"input_ids": ids, "attention_mask": mask})
        return np.asarray(pooled)

    return forward
