"""Semi-supervised coding that learns from the researcher's hand codes by fine-tuning the encoder.

``themes.mode: semi-supervised`` with ``themes.semi_supervised.method: finetune``:

1. a stratified share of the hand-coded segments is *given* (:func:`choose_given`; the rest are
   only scored);
2. the segment encoder (a sentence-transformers model in PyTorch) is fine-tuned on the given
   segments plus the codebook's names, definitions and examples as extra labelled text
   (:func:`finetune_encoder`, losses in :mod:`themekit.themes.losses`): by default
   (``loss: softmax``) cross-entropy through a linear layer over the codes trained with the
   encoder (SetFit's ``end_to_end``; the layer is dropped afterwards); ``cosine`` is SetFit's
   contrastive pairs, cosine similarity pulled to 1 for two texts of the same code and to 0 for
   two of different codes (:func:`contrastive_pairs`; sentence-transformers'
   ``CosineSimilarityLoss``), and ``supcon`` a supervised contrastive loss. The steps are bounded
   (``max_pairs``) so that a focus group trains in minutes on a laptop CPU; the word-embedding
   matrix is frozen (e5 has 96 M of its 118 M weights there) and CUDA is used when present;
3. every segment, moderator prompt and codebook text is embedded with the fine-tuned encoder;
   the prompt is added to the answers after it and each language's mean is removed exactly as
   for the frozen vectors, then a logistic-regression head (:class:`CodingHead`) is fitted on the
   given segments and the codebook texts, pooled over the answers to the same question, and
   codes the rest.

:class:`Coder` is what a run folder keeps (``coder/``: the encoder as ``model.safetensors``, the
head and the language means as ``head.safetensors``, the settings as ``coder.json``; no pickle),
and :func:`themekit.themes.semisupervised.code_sessions` applies it to new transcripts
(``themekit code RUN FOLDER``).
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from themekit.embed.base import l2_normalize
from themekit.errors import ConfigError, InputError, NotFittedError
from themekit.progress import ProgressCallback

logger = logging.getLogger(__name__)

#: Folder of a run that holds the fine-tuned coder.
CODER_DIR = "coder"
#: Word-embedding tables larger than this many rows are frozen while fine-tuning.
FREEZE_VOCAB_ROWS = 1000


# -- which segments are given --------------------------------------------------------------------
def choose_given(hand_codes: Sequence[str | None], share: float, seed: int) -> np.ndarray:
    """A stratified random ``share`` of the hand-coded segments (at least one per code).

    Segments without a code are never given. The same codes, share and seed give the same mask.
    """
    if not 0.0 < share < 1.0:
        raise ConfigError(
            f"must be between 0 and 1 (exclusive); got {share!r}",
            key="themes.semi_supervised_share",
        )
    rng = np.random.default_rng(seed)
    codes = np.asarray([c or "" for c in hand_codes], dtype=object)
    given = np.zeros(len(codes), dtype=bool)
    for code in sorted(set(codes.tolist()) - {""}):
        idx = np.flatnonzero(codes == code)
        k = max(1, round(share * len(idx)))
        given[rng.choice(idx, size=min(k, len(idx)), replace=False)] = True
    return given


# -- fine-tuning ---------------------------------------------------------------------------------
def contrastive_pairs(
    labels: Sequence[str], n_pairs: int, rng: np.random.Generator
) -> list[tuple[int, int, float]]:
    """``n_pairs`` index pairs, alternately of the same label (target 1) and of different
    labels (target 0), each anchored on a label drawn uniformly (SetFit's balanced sampling), so
    that a rare code weighs as much as a common one."""
    lab = np.asarray(list(labels), dtype=object)
    groups = {c: np.flatnonzero(lab == c) for c in sorted(set(lab.tolist()))}
    multi = [c for c, idx in groups.items() if len(idx) >= 2]
    names = list(groups)
    pairs: list[tuple[int, int, float]] = []
    if len(names) < 2 and not multi:
        return pairs
    for k in range(n_pairs):
        if (k % 2 == 0 and multi) or len(names) < 2:
            c = multi[int(rng.integers(len(multi)))]
            i, j = rng.choice(groups[c], size=2, replace=False)
            pairs.append((int(i), int(j), 1.0))
        else:
            a, b = rng.choice(len(names), size=2, replace=False)
            i = rng.choice(groups[names[int(a)]])
            j = rng.choice(groups[names[int(b)]])
            pairs.append((int(i), int(j), 0.0))
    return pairs


def torch_device(device: str) -> str:
    """``auto`` -> CUDA when present (then MPS, then CPU); on CPU torch uses every core unless
    ``OMP_NUM_THREADS`` sets the number."""
    from themekit.embed.base import resolve_device

    resolved = resolve_device(device)
    if resolved == "cpu" and not os.environ.get("OMP_NUM_THREADS"):
        import torch

        torch.set_num_threads(max(1, len(os.sched_getaffinity(0))))
    return resolved


def finetune_encoder(
    model: Any,
    texts: Sequence[str],
    labels: Sequence[str],
    *,
    max_pairs: int = 640,
    epochs: int = 1,
    batch_size: int = 16,
    learning_rate: float = 5e-5,
    seed: int = 42,
    prompt: str = "",
    trained_layers: int | None = None,
    states: Sequence[Any] | None = None,
    loss: str = "softmax",
    warmup: float = 0.0,
    progress: ProgressCallback | None = None,
) -> dict[str, Any]:
    """Fine-tune a ``SentenceTransformer`` in place on pairs of labelled texts.

    ``loss`` (:mod:`themekit.themes.losses`): ``cosine``, SetFit's (sentence-transformers'
    ``CosineSimilarityLoss``: the squared error between the cosine of a pair's embeddings and
    its target), ``supcon`` or ``softmax``; ``warmup``: the share of the steps the learning rate
    rises over before it falls linearly to 0 (0: constant). ``trained_layers``: train only the
    top N transformer layers on bottom states computed once (:mod:`themekit.themes.layercache`;
    ``states`` may pass them in, already computed for ``texts`` with the prompt); ``None``: every
    layer but the word-embedding table. Returns what was done (pairs, steps, seconds, peak memory
    where known) for the manifest.
    """
    import torch
    from sentence_transformers.util import batch_to_device

    from themekit.themes import layercache
    from themekit.themes.losses import train as train_loop

    if len(texts) != len(labels):
        raise InputError(f"{len(labels)} labels for {len(texts)} texts")
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    texts = [prompt + t for t in texts]
    device = model.device
    t0, c0 = time.perf_counter(), time.process_time()
    n_frozen = layercache.n_frozen_layers(model, trained_layers)
    frozen = 0
    if n_frozen is None:
        for module in model.modules():
            if isinstance(module, torch.nn.Embedding) and module.num_embeddings > FREEZE_VOCAB_ROWS:
                module.weight.requires_grad_(False)
                frozen += module.weight.numel()
        params = [p for p in model.parameters() if p.requires_grad]

        def embed(idx: list[int]) -> Any:
            feats = batch_to_device(model.preprocess([texts[k] for k in idx]), device)
            return model(feats)["sentence_embedding"]
    else:
        layercache.check_split(model, texts, n_frozen)
        cached = (
            list(states) if states is not None else layercache.bottom_states(model, texts, n_frozen)
        )
        params = layercache.trainable_top(model, n_frozen)
        frozen = int(sum(p.numel() for p in model.parameters() if not p.requires_grad))

        def embed(idx: list[int]) -> Any:
            return layercache.top_embed(model, [cached[k] for k in idx], n_frozen)

    cache_seconds = time.perf_counter() - t0
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    model.train()
    losses, step = train_loop(
        embed,
        list(labels),
        params,
        loss=loss,
        pairs=lambda n: contrastive_pairs(labels, n, rng),
        max_pairs=max_pairs,
        epochs=epochs,
        batch_size=batch_size,
        learning_rate=learning_rate,
        rng=rng,
        device=device,
        warmup=warmup,
        progress=progress,
    )
    model.eval()
    info: dict[str, Any] = {
        "pairs_per_epoch": max_pairs,
        "epochs": epochs,
        "batch_size": batch_size,
        "learning_rate": learning_rate,
        "loss": loss,
        "warmup": warmup,
        "trained_layers": trained_layers if n_frozen is not None else "all",
        "steps": step,
        "frozen_weights": frozen,
        "trained_weights": int(sum(p.numel() for p in params)),
        "loss_first": round(float(np.mean(losses[:5])), 4) if losses else None,
        "loss_last": round(float(np.mean(losses[-5:])), 4) if losses else None,
        "cache_seconds": round(cache_seconds, 2),
        "seconds": round(time.perf_counter() - t0, 2),
        "cpu_seconds": round(time.process_time() - c0, 2),
        "device": str(device),
    }
    if device.type == "cuda":
        info["peak_gpu_memory_mb"] = round(torch.cuda.max_memory_allocated(device) / 2**20, 1)
    logger.info(
        "encoder fine-tuned on %d labelled texts (%s layers trained): %s",
        len(texts),
        info["trained_layers"],
        f"{step} steps of {batch_size} pairs in {info['seconds']:.1f} s on {device} "
        f"(loss {info['loss_first'] or 0.0:.3f} -> {info['loss_last'] or 0.0:.3f})",
    )
    return info


def encode(
    model: Any, texts: Sequence[str], *, prompt: str = "", batch_size: int = 64
) -> np.ndarray:
    """Unit-length float32 vectors from a (fine-tuned) ``SentenceTransformer``."""
    if not texts:
        getter = (
            getattr(model, "get_embedding_dimension", None)
            or model.get_sentence_embedding_dimension
        )
        dim = getter() or 0
        return np.zeros((0, dim), dtype=np.float32)
    out = model.encode(
        [prompt + t for t in texts],
        batch_size=batch_size,
        convert_to_numpy=True,
        normalize_embeddings=True,
        show_progress_bar=False,
    )
    return np.asarray(out, dtype=np.float32)


# -- the model to fine-tune ----------------------------------------------------------------------
def load_encoder(
    source: str, *, device: str = "auto", allow_remote: bool = False, max_seq_length: int = 128
) -> Any:
    """Load a ``SentenceTransformer`` without touching the network unless ``allow_remote``."""
    from sentence_transformers import SentenceTransformer

    from themekit.embed.base import resolve_model_source

    folder, hub_id = resolve_model_source(
        source, allow_remote=allow_remote, backend="sentence-transformers"
    )
    model = SentenceTransformer(
        str(folder) if folder is not None else hub_id,
        device=torch_device(device),
        local_files_only=not allow_remote,
    )
    model.max_seq_length = min(max_seq_length, model.max_seq_length or max_seq_length)
    return model


def default_prompt_for(source: str) -> str:
    """The document prompt the model expects (e5: ``passage: ``), as the embedding backend."""
    from themekit.embed.st import default_prompt

    folder = Path(source) if Path(source).is_dir() else None
    return default_prompt(source, folder)


# -- the head ------------------------------------------------------------------------------------
@dataclass
class CodingHead:
    """Multinomial logistic regression over unit vectors (the SetFit head), kept as arrays so
    that it saves as safetensors. ``classes_``: the codes, in the column order of the
    probabilities."""

    C: float = 1.0
    classes_: list[str] = field(default_factory=list)
    coef_: np.ndarray | None = None
    intercept_: np.ndarray | None = None

    def fit(self, X: np.ndarray, y: Sequence[str]) -> CodingHead:
        from sklearn.linear_model import LogisticRegression

        y = [str(v) for v in y]
        self.classes_ = sorted(set(y))
        if len(self.classes_) < 2:  # one code: everything gets it
            self.coef_ = np.zeros((1, X.shape[1]), dtype=np.float32)
            self.intercept_ = np.zeros(1, dtype=np.float32)
            return self
        clf = LogisticRegression(C=self.C, max_iter=2000).fit(X, y)
        fitted = CodingHead.from_linear(self.classes_, clf.coef_, clf.intercept_, C=self.C)
        self.coef_, self.intercept_ = fitted.coef_, fitted.intercept_
        return self

    @classmethod
    def from_linear(
        cls, classes: Sequence[str], coef: np.ndarray, intercept: np.ndarray, C: float = 1.0
    ) -> CodingHead:
        """A head from a fitted linear model's weights (scikit-learn's one row for two classes
        is made two)."""
        coef, intercept = np.asarray(coef), np.asarray(intercept)
        if len(classes) == 2 and coef.shape[0] == 1:
            coef = np.vstack([-coef[0] / 2, coef[0] / 2])
            intercept = np.asarray([-intercept[0] / 2, intercept[0] / 2])
        return cls(
            C=C,
            classes_=[str(c) for c in classes],
            coef_=np.asarray(coef, dtype=np.float32),
            intercept_=np.asarray(intercept, dtype=np.float32),
        )

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        if self.coef_ is None or self.intercept_ is None:
            raise NotFittedError("This CodingHead instance is not fitted yet. Call 'fit' first.")
        if len(self.classes_) < 2:
            return np.ones((len(X), 1))
        z = np.asarray(X, dtype=np.float64) @ self.coef_.T.astype(np.float64) + self.intercept_
        z -= z.max(axis=1, keepdims=True)
        p = np.exp(z)
        return np.asarray(p / p.sum(axis=1, keepdims=True))


# -- what a run keeps ----------------------------------------------------------------------------
def coder_classes(run_dir: str | Path) -> list[str]:
    """The codes the coder a run saved can give (``coder/coder.json``), without loading it."""
    meta = Path(run_dir) / CODER_DIR / "coder.json"
    if not meta.is_file():
        raise InputError("no fine-tuned coder in this run folder", path=run_dir)
    return [str(c) for c in json.loads(meta.read_text(encoding="utf-8"))["classes"]]


@dataclass
class Coder:
    """A fine-tuned encoder, the head, and how vectors were prepared for it (saved in a run)."""

    encoder: Any
    head: CodingHead
    prompt: str = ""
    context_weight: float = 0.0
    question_weight: float = 0.0
    language_means: dict[str, np.ndarray] = field(default_factory=dict)
    language_center: np.ndarray | None = None
    info: dict[str, Any] = field(default_factory=dict)

    def vectors(
        self,
        texts: Sequence[str],
        languages: Sequence[str],
        prompts: Sequence[str] = (),
        links: Sequence[int | None] | None = None,
    ) -> np.ndarray:
        """Segment vectors as the head saw them: fine-tuned, prompt added, language means off."""
        from themekit.embed.context import add_prompt_context
        from themekit.embed.neutral import LanguageMeanRemover

        X = encode(self.encoder, texts, prompt=self.prompt)
        if self.context_weight > 0 and prompts and links is not None:
            P = encode(self.encoder, prompts, prompt=self.prompt)
            X = add_prompt_context(X, P, links, self.context_weight)
        X = l2_normalize(X)
        if self.language_center is not None:
            remover = LanguageMeanRemover()
            remover.means_ = dict(self.language_means)
            remover.center_ = self.language_center
            X = remover.transform(X, list(languages))
        return X

    def predict_proba(
        self,
        texts: Sequence[str],
        languages: Sequence[str],
        prompts: Sequence[str] = (),
        links: Sequence[int | None] | None = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """``(probabilities, vectors)``; probabilities pooled over the answers to one question."""
        from themekit.themes.guided import group_ids, pool_by_question

        Y = self.vectors(texts, languages, prompts, links)
        proba = self.head.predict_proba(Y)
        if links is not None:
            proba = pool_by_question(proba, group_ids(links, len(Y)), self.question_weight)
        return proba, Y

    def save(self, folder: Path) -> Path:
        from safetensors.numpy import save_file

        folder.mkdir(parents=True, exist_ok=True)
        self.encoder.save(str(folder / "encoder"), safe_serialization=True)
        assert self.head.coef_ is not None and self.head.intercept_ is not None
        tensors = {
            "head.coef": np.ascontiguousarray(self.head.coef_, dtype=np.float32),
            "head.intercept": np.ascontiguousarray(self.head.intercept_, dtype=np.float32),
        }
        langs = sorted(self.language_means)
        for lang in langs:
            tensors[f"language_mean.{lang}"] = np.ascontiguousarray(
                self.language_means[lang], dtype=np.float32
            )
        if self.language_center is not None:
            tensors["language_center"] = np.ascontiguousarray(
                self.language_center, dtype=np.float32
            )
        save_file(tensors, str(folder / "head.safetensors"))
        meta = {
            "classes": self.head.classes_,
            "prompt": self.prompt,
            "context_weight": self.context_weight,
            "question_weight": self.question_weight,
            "languages": langs,
            "info": self.info,
        }
        (folder / "coder.json").write_text(
            json.dumps(meta, indent=2, ensure_ascii=False) + "\n", encoding="utf-8"
        )
        return folder

    def save_into_run(self, run_folder: Path) -> Path:
        """Save into a run folder's ``coder/``."""
        return self.save(run_folder / CODER_DIR)

    @classmethod
    def load(cls, folder: Path, *, device: str = "auto") -> Coder:
        from safetensors.numpy import load_file

        meta_path = folder / "coder.json"
        if not meta_path.is_file():
            raise InputError(
                "no fine-tuned coder in this run folder (it is written by runs with "
                "themes.mode: semi-supervised that fine-tuned: themes.semi_supervised.method "
                "finetune, or auto with an encoder to fine-tune)",
                path=folder.parent,
            )
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
        tensors = load_file(str(folder / "head.safetensors"))
        head = CodingHead(
            classes_=list(meta["classes"]),
            coef_=tensors["head.coef"],
            intercept_=tensors["head.intercept"],
        )
        encoder = load_encoder(
            str(folder / "encoder"),
            device=device,
            max_seq_length=int(meta.get("info", {}).get("max_seq_length", 512)),
        )
        return cls(
            encoder=encoder,
            head=head,
            prompt=str(meta.get("prompt", "")),
            context_weight=float(meta.get("context_weight", 0.0)),
            question_weight=float(meta.get("question_weight", 0.0)),
            language_means={lang: tensors[f"language_mean.{lang}"] for lang in meta["languages"]},
            language_center=tensors.get("language_center"),
            info=dict(meta.get("info", {})),
        )
