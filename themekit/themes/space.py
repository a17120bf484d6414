"""Which space discovery clusters in: the full vectors, or the question directions.

The moderator's questions help discovery where the interview guide follows the themes (the
demo) and hurt where it does not, or where few answers follow a question (benchmarks/RESULTS.md,
"development suite"). So discover mode decides from the data, without hand codes
(``themes.question_space: auto``):

1. **evidence gates**: the question directions are considered only when at least
   :data:`MIN_ANSWERED_SHARE` of the analysed segments answer a question, from at least
   :data:`MIN_QUESTIONS` distinct questions, with at least :data:`MIN_ANSWERS_PER_QUESTION`
   answers per question on average;
2. **stability**: both spaces are clustered on the whole corpus and on
   :data:`STABILITY_REFITS` random subsamples of 80 % with other seeds; the mean adjusted Rand
   index between each refit and the whole-corpus clustering (on the segments they share) says
   how reproducible each space's clustering is. The question directions are used only when
   their clustering is at least :data:`STABILITY_MARGIN` more stable than the full vectors';
3. **the codebook's check** (only when a codebook is given): a space of only a few directions
   clusters stably whether or not its clusters are themes (on the suite's ``unbalanced`` corpus
   the question directions were +0.26 more stable and recovered none of its themes). So the
   segments are first coded with the codebook (the guided coding, no hand codes), and the
   question directions are kept only when their clustering recovers at least as many codebook
   themes *as that coding sees them* (:func:`codebook_recovery`) as the full vectors'
   clustering does, and at least one: a tie at none is no evidence that the questions follow
   the themes (on the suite's ``guide_misaligned`` transcript, whose guide does not follow
   them, both spaces' clusterings recover none on two seeds of three; benchmarks/RESULTS.md,
   ninth session). Without a codebook this step is skipped;
4. **seeded full vectors** (with a codebook and ``themes.seed_with_codebook: auto``): where the
   question directions were chosen, the full vectors seeded by the codebook replace them when
   seeding passes its checks there (:func:`themekit.themes.seeding.over_question_directions`,
   :func:`use_seeded_full`): on the development suite the demo's single sessions went from 2 to
   3 of 3 on every seed, and no corpus lost beyond its noise (benchmarks/RESULTS.md, twelfth
   session). ``on`` keeps the question directions, unseeded.

``on`` / ``off`` force either space. The choice, its reason and the numbers behind it are kept in
:class:`SpaceChoice` (the finder's ``space_``; the run's manifest ``clustering_space``).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

logger = logging.getLogger(__name__)

QUESTION_SPACES = ("auto", "on", "off")
#: Gate: share of analysed segments that must answer a moderator question (a coded-excerpts
#: export with a few moderator turns at the end has 7 of 111).
MIN_ANSWERED_SHARE = 0.5
#: Gate: distinct questions those answers must come from.
MIN_QUESTIONS = 5
#: Gate: answers per distinct question, on average. One answer per question (one-to-one
#: interviews whose interviewer asks each follow-up once) gives directions that only restate each
#: answer: on the suite's one-to-one corpus they lowered NMI from 0.32 to 0.09.
MIN_ANSWERS_PER_QUESTION = 2.0
#: Subsample refits per space for the stability comparison.
STABILITY_REFITS = 4
#: Share of the corpus in each refit.
STABILITY_SHARE = 0.8
#: The question directions must be at least this much more stable (mean ARI) to be used: on the
#: suite's caregiving corpus the two spaces came within 0.06 of each other with either ahead by
#: seed, and the full vectors recovered more there; where the question directions helped (demo,
#: micro group, prompts without "?") they were 0.25-0.60 more stable (benchmarks/RESULTS.md).
STABILITY_MARGIN = 0.1


@dataclass
class SpaceChoice:
    """``used``: "full" or "question"; ``setting``: themes.question_space; ``reason``: one
    sentence; ``evidence``: counts from :meth:`themekit.context.QuestionContext.evidence`;
    ``stability``: mean ARI of refits per space (None when not measured); ``n_components``: the
    question directions fitted (0 when none); ``codebook_check``: codebook themes (as the
    codebook coding sees them) that each space's clustering recovers, and how many there are
    (None when not measured); ``seeded_full``: where ``auto`` chose the question directions,
    whether the full vectors seeded by the codebook were clustered instead, and the codebook
    themes their clustering recovers unseeded and seeded (:func:`use_seeded_full`)."""

    used: str
    setting: str
    reason: str
    evidence: dict[str, Any] = field(default_factory=dict)
    stability: dict[str, float] | None = None
    n_components: int = 0
    codebook_check: dict[str, int] | None = None
    seeded_full: dict[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def gate(evidence: dict[str, Any]) -> str | None:
    """None when the evidence suffices to consider the question directions, else why not."""
    share = float(evidence.get("answered_share", 0.0))
    n_q = int(evidence.get("n_questions", 0))
    if share < MIN_ANSWERED_SHARE:
        return (
            f"only {evidence.get('n_answering_question', 0)} of {evidence.get('n_segments', 0)} "
            f"segments ({share:.0%}) answer a moderator question (needs "
            f"{MIN_ANSWERED_SHARE:.0%})"
        )
    if n_q < MIN_QUESTIONS:
        return f"the answers follow only {n_q} distinct questions (needs {MIN_QUESTIONS})"
    n_a = int(evidence.get("n_answering_question", 0))
    if n_a < MIN_ANSWERS_PER_QUESTION * n_q:
        return (
            f"{n_a} answers to {n_q} distinct questions: {n_a / n_q:.1f} per question (needs "
            f"{MIN_ANSWERS_PER_QUESTION:g}); directions fitted on them would only restate each "
            "answer"
        )
    return None


def question_share(A: np.ndarray, ids: np.ndarray) -> float:
    """How much of the answers' spread the question they answer explains: the between-question
    share of the total sum of squares of the (unit) answer vectors, adjusted for the number of
    questions (omega squared: 0 when questions explain no more than chance groups would; rows
    with id -1 left out)."""
    keep = ids >= 0
    Y, g = A[keep], ids[keep]
    groups = np.unique(g)
    n, k = len(Y), len(groups)
    if k < 2 or n <= k:
        return 0.0
    mu = Y.mean(axis=0)
    sst = float(((Y - mu) ** 2).sum())
    ssb = sum(float((g == q).sum() * ((Y[g == q].mean(axis=0) - mu) ** 2).sum()) for q in groups)
    msw = (sst - ssb) / (n - k)
    return float(max(0.0, (ssb - (k - 1) * msw) / (sst + msw)))


def codebook_recovery(labels: np.ndarray, reference: Sequence[str], other_id: str) -> int:
    """How many themes of ``reference`` (per-segment codes from the codebook coding; ``other_id``
    is not a theme) one cluster of ``labels`` recovers, by the rule hand codes are scored with
    (:func:`themekit.compare.matching.recovering_themes`, threshold
    :data:`themekit.config.evaluation.DEFAULT_RECOVERY_THRESHOLD`)."""
    from themekit.compare import matching
    from themekit.config.evaluation import DEFAULT_RECOVERY_THRESHOLD

    codes = sorted(set(reference))
    ct = matching.contingency(np.asarray(labels), list(reference), codes)
    return sum(
        bool(matching.recovering_themes(ct, c, DEFAULT_RECOVERY_THRESHOLD))
        for c in codes
        if c != other_id
    )


def stability(
    Z: np.ndarray,
    cluster: Callable[..., np.ndarray],
    seed: int,
    base: np.ndarray | None = None,
) -> float:
    """Mean ARI between the clustering of all of ``Z`` (``base``, or clustered here with seed
    ``seed``; k chosen as the finder chooses it) and :data:`STABILITY_REFITS` clusterings of 80 %
    subsamples (other seeds, the same k), on the shared rows."""
    from sklearn.metrics import adjusted_rand_score

    n = len(Z)
    base = cluster(Z, seed) if base is None else base
    k = len(set(base.tolist()) - {-1})
    rng = np.random.default_rng(seed + 7919)
    scores = []
    for r in range(STABILITY_REFITS):
        idx = np.sort(rng.choice(n, size=max(3, int(STABILITY_SHARE * n)), replace=False))
        lab = cluster(Z[idx], seed + 1 + r, k)
        scores.append(adjusted_rand_score(base[idx], lab))
    return float(np.mean(scores))


def choose(
    setting: str,
    evidence: dict[str, Any],
    full: np.ndarray,
    question: np.ndarray | None,
    n_components: int,
    cluster: Callable[..., np.ndarray],
    seed: int,
    reference: Sequence[str] | None = None,
    other_id: str = "other",
) -> SpaceChoice:
    """Decide between ``full`` and ``question`` (None when the directions could not be fitted).
    ``cluster(Z, seed[, k])`` is the finder's own clustering (labels); ``reference``: each
    segment's code from the codebook coding (None without a codebook), for the codebook's check
    (module doc, step 3)."""
    if setting == "off":
        return SpaceChoice("full", setting, "themes.question_space is off", evidence)
    if question is None:
        why = (
            "no moderator questions to fit question directions on"
            if not evidence.get("n_answering_question")
            else "too few answers or distinct questions to fit question directions"
        )
        if setting == "on":
            logger.warning("themes.question_space is on, but %s: full vectors used", why)
        return SpaceChoice("full", setting, why, evidence)
    if setting == "on":
        return SpaceChoice(
            "question", setting, "themes.question_space is on", evidence, None, n_components
        )
    blocked = gate(evidence)
    if blocked:
        return SpaceChoice("full", setting, blocked, evidence, None, n_components)
    base = {"full": cluster(full, seed), "question": cluster(question, seed)}
    stab = {
        "full": stability(full, cluster, seed, base["full"]),
        "question": stability(question, cluster, seed, base["question"]),
    }
    use_q = stab["question"] >= stab["full"] + STABILITY_MARGIN
    reason = (
        f"clustering in the question directions is {'' if use_q else 'not '}clearly more "
        f"stable over subsamples than in the full vectors (mean ARI {stab['question']:.2f} vs "
        f"{stab['full']:.2f}; needs {STABILITY_MARGIN:g} more)"
    )
    check = None
    if use_q and reference is not None:
        n_themes = len(set(reference) - {other_id})
        check = {sp: codebook_recovery(base[sp], reference, other_id) for sp in base}
        check["codebook_themes"] = n_themes
        use_q = check["question"] >= check["full"] and check["question"] > 0
        counts = f"({check['question']} vs {check['full']} of {n_themes})"
        if check["question"] == 0 == check["full"]:
            reason += (
                ", but neither space's clustering recovers any of the codebook's themes, as the "
                f"codebook coding sees them {counts}: no evidence that the questions follow the "
                "themes"
            )
        else:
            reason += (
                f", {'and' if use_q else 'but'} it recovers "
                f"{'at least as many' if use_q else 'fewer'} of the codebook's themes "
                f"{'as' if use_q else 'than'} the full vectors' clustering, as the codebook "
                f"coding sees them {counts}"
            )
    return SpaceChoice(
        "question" if use_q else "full", setting, reason, evidence, stab, n_components, check
    )


def use_seeded_full(choice: SpaceChoice, check: dict[str, Any]) -> None:
    """Record on ``choice`` (the question directions, chosen by ``auto``) whether the full
    vectors seeded by the codebook replace them (``check``:
    :func:`themekit.themes.seeding.over_question_directions`), and switch it to the full vectors
    when they do."""
    choice.seeded_full = dict(check)
    if not check["used"]:
        return
    choice.used, choice.n_components = "full", 0
    choice.reason += (
        f"; but seeded by the codebook, the full vectors' clustering recovers {check['seeded']} "
        f"of its {check['codebook_themes']} themes, as the codebook coding sees them (unseeded "
        f"{check['unseeded']}), and seeding passes its checks there, so the seeded full vectors "
        "were clustered instead"
    )
    logger.info("themes found in the full vectors, seeded: %s", choice.reason)
