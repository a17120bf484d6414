"""Discovery seeded by the codebook: BERTopic's guided topic modelling, in themekit's space.

BERTopic's answer to "I know some of the topics" is ``seed_topic_list``
(``BERTopic._guided_topic_modeling``): it embeds each seed topic, gives every document that is
more similar to a seed topic than to the average document that topic's label, and moves those
documents' embeddings a quarter of the way toward the seed topic's embedding before they are
reduced and clustered. Documents closer to the average document stay where they are.

``themes.seed_with_codebook`` does the same in discover mode, and only when the job has a
codebook:

1. **which segments are seeds**: each segment is coded with the codebook (the guided coding that
   discover mode runs anyway for the report and the space check: the mean cosine to the theme's
   descriptions, self-trained, pooled over the answers to one question). A segment coded
   ``other`` is not a seed: the ``other`` theme's descriptions (prompts, logistics, small talk)
   compete in the coding, so that a segment closer to them than to any theme is left alone,
   and ``other`` never pulls segments together. Nor is a segment that is less similar to its
   theme than the average segment is (BERTopic's rule);
2. **the nudge**: in the space clustering runs in (the full vectors or the question
   directions), each seed's vector becomes ``(1 - w) x itself + w x its theme's vector``
   (``themes.seed_weight``, BERTopic's 0.25 by default), re-normalised. A theme's vector is
   the unit mean of its description vectors, mapped into that space;
3. the clustering then runs as it would without seeds: k is chosen by the silhouette and the
   segments fall where they fall. The seeded vectors are used for the clustering only; the
   themes are described, named and split into sub-themes in the unseeded vectors.

This uses the codebook's *wording* (never the hand codes) to shape discovery, so recovering the
codebook's themes is helped by construction; the report says so.

``auto`` seeds only when the codebook fits the data (:func:`fit_check`): along the directions
that tell its themes apart, the segments must vary at least :data:`MIN_CONTRAST_RATIO` times as
much as along an average direction (:func:`contrast_ratio`; otherwise its themes are not told
apart in these vectors), and at least two themes must hold :data:`MIN_THEME_SEEDS` seeds. The
share of segments closer to a codebook theme than the average segment does not tell a fitting
codebook from one of another domain (about half of the segments are closer to any direction than
the average segment is), and BERTopic's own rule, in the raw vectors, seeds almost nothing with
these models (benchmarks/RESULTS.md). When it does not fit, the run is not seeded and says why.
``auto`` also seeds only in the full vectors (:func:`in_question_directions`), and keeps the
seeds only when the seeded clustering recovers more of the codebook's themes, as the codebook
coding sees them, than the unseeded one, or when both already recover all of them, where a gain
cannot be measured (:func:`gain_check`). ``auto`` is the default: on the
development suite it took the coded-excerpts corpus from 1, 1, 1 to 3, 3, 3 of 3 and the
misaligned-guide transcript from 0, 0, 0 to 2, 2, 2, and no corpus dropped
(benchmarks/RESULTS.md, ninth session). Where ``themes.question_space: auto`` chose the question
directions, the full vectors are seeded instead and clustered when they pass
(:func:`over_question_directions`); with the seeds kept at the ceiling and the spread coding
this took the demo's single sessions from 2 to 3 of 3 on 8 seeds of 8, and no corpus lost
beyond its seed-to-seed noise (benchmarks/RESULTS.md, twelfth session). ``true`` / ``false``
force either.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from themekit.embed.base import l2_normalize
from themekit.errors import ConfigError

logger = logging.getLogger(__name__)

SEED_SETTINGS = ("auto", True, False)
#: Default ``themes.seed_weight``. BERTopic's is 0.25 (``embeddings * 0.75 + seed * 0.25``); on
#: the development suite (e5), seeding in the full vectors at 0.5 gained on caregiving (3, 1, 3 ->
#: 3, 3, 3 of 4) where 0.25 did not (2, 2, 3), and lost no seed that the seeded clustering's
#: codebook check (:func:`gain_check`) let through (benchmarks/RESULTS.md, ninth session).
DEFAULT_SEED_WEIGHT = 0.5
#: ``auto``: the segments must vary at least this many times as much along the directions
#: between the codebook's themes as along an average direction (:func:`contrast_ratio`, full
#: vectors). On the development suite each corpus with its own codebook scored 3.2-8.2, and a
#: codebook of another domain (the demo's or the caregiving study's on SIB-200, NHS comments,
#: StackOverflow titles, AnnoMI) 1.3-2.9 (benchmarks/RESULTS.md).
MIN_CONTRAST_RATIO = 3.0
#: ``auto``: seeds a theme needs to count as one the vectors hold apart (and at least two such).
MIN_THEME_SEEDS = 3


@dataclass
class SeedingChoice:
    """``used``: whether the clustering was seeded; ``setting``: themes.seed_with_codebook;
    ``weight``: themes.seed_weight; ``reason``: one sentence; ``n_segments`` / ``n_seeds``: the
    segments and the seeds among them; ``seeds_per_theme``: seeds by codebook theme (every theme
    but ``other``); ``n_coded_other``: segments the codebook coding put in ``other``; ``contrast_ratio``:
    :func:`contrast_ratio` in the full vectors (``auto``'s check); ``codebook_check``: the
    codebook themes (as the codebook coding sees them) that the clustering recovers without and
    with the seeds (``auto``'s last check, :func:`gain_check`; None when not measured);
    ``kept_at_ceiling``: the seeds were kept because both clusterings recover every codebook
    theme, where the check cannot tell a gain (:func:`gain_check`)."""

    used: bool
    setting: str
    weight: float
    reason: str
    n_segments: int = 0
    n_seeds: int = 0
    seeds_per_theme: dict[str, int] = field(default_factory=dict)
    n_coded_other: int = 0
    contrast_ratio: float | None = None
    codebook_check: dict[str, int] | None = None
    kept_at_ceiling: bool = False

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def setting_name(setting: bool | str) -> str:
    """``themes.seed_with_codebook`` as the config file spells it."""
    if isinstance(setting, bool):
        return "true" if setting else "false"
    return str(setting)


def validate(setting: object, weight: object) -> None:
    """ConfigError naming the key when ``setting`` or ``weight`` is out of range."""
    if not (setting == "auto" or isinstance(setting, bool)):
        raise ConfigError(
            f"must be one of ['auto', true, false]; got {setting!r}",
            key="themes.seed_with_codebook",
        )
    if isinstance(weight, bool) or not isinstance(weight, int | float) or not 0.0 < weight < 1.0:
        raise ConfigError(
            f"must be a number above 0 and below 1; got {weight!r}", key="themes.seed_weight"
        )


def theme_vectors(
    C: np.ndarray, owners: Sequence[str], themes: Sequence[str]
) -> dict[str, np.ndarray]:
    """Each theme's vector: the unit mean of its description vectors (rows of ``C``)."""
    own = np.asarray(owners, dtype=object)
    return {
        t: l2_normalize(C[own == t].mean(axis=0, keepdims=True))[0]
        for t in themes
        if (own == t).any()
    }


def seeds(Z: np.ndarray, codes: Sequence[str], vectors: dict[str, np.ndarray]) -> np.ndarray:
    """Boolean mask of the seeds: segments coded with a theme of ``vectors`` (``other`` is not
    one) that are more similar to its vector than the average segment is (BERTopic's rule)."""
    mean = Z.mean(axis=0)
    out = np.zeros(len(Z), dtype=bool)
    for t, v in vectors.items():
        rows = np.flatnonzero(np.asarray(codes, dtype=object) == t)
        if len(rows):
            out[rows] = Z[rows] @ v > float(mean @ v)
    return out


def contrast_ratio(Y: np.ndarray, vectors: dict[str, np.ndarray]) -> float:
    """How much more the segments vary along the directions that tell the codebook's themes
    apart than along an average direction: the mean variance of ``Y``'s rows along each
    theme's vector minus the themes' mean vector, over the total variance divided by the
    dimension (1 = a random direction; nan with fewer than two themes)."""
    if len(vectors) < 2 or len(Y) < 2:
        return float("nan")
    V = np.stack(list(vectors.values()))
    D = l2_normalize(V - V.mean(axis=0))
    Yc = Y - Y.mean(axis=0)
    average = float(Yc.var(axis=0).sum()) / Y.shape[1]
    return float((Yc @ D.T).var(axis=0).mean() / max(average, 1e-12))


def fit_check(
    ratio: float, mask: np.ndarray, codes: Sequence[str], themes: Sequence[str]
) -> tuple[str | None, dict[str, int]]:
    """None when the codebook fits the data well enough to seed with (module doc), else why
    not; and the seeds per theme. ``ratio``: :func:`contrast_ratio` in the full vectors."""
    per = {t: int(sum(1 for i in np.flatnonzero(mask) if codes[int(i)] == t)) for t in themes}
    if not ratio >= MIN_CONTRAST_RATIO:
        return (
            f"along the directions between its themes the segments vary only {ratio:.1f} times "
            f"as much as along an average direction (needs {MIN_CONTRAST_RATIO:g}): its themes "
            "are not told apart in these vectors"
        ), per
    held = [t for t, c in per.items() if c >= MIN_THEME_SEEDS]
    if len(held) < 2:
        return (
            f"only {len(held)} of its {len(themes)} themes has {MIN_THEME_SEEDS} or more "
            "segments coded with it and closer to it than the average segment (needs 2)"
        ), per
    return None, per


def seed(
    setting: bool | str,
    weight: float,
    Z: np.ndarray,
    codes: Sequence[str] | None,
    vectors: dict[str, np.ndarray],
    ratio: float,
) -> tuple[np.ndarray, SeedingChoice | None]:
    """The vectors to cluster (``Z`` nudged toward the themes of its seeds, or ``Z``) and the
    record of what was done; None when there is no codebook or seeding is off.

    ``codes``: each segment's code from the codebook coding (None without a codebook);
    ``vectors``: the codebook themes' vectors in ``Z``'s space, ``other`` left out;
    ``ratio``: :func:`contrast_ratio` of the full vectors, for ``auto``'s check."""
    name = setting_name(setting)
    if codes is None or setting is False:
        return Z, None
    mask = seeds(Z, codes, vectors)
    themes = list(vectors)
    blocked, per = fit_check(ratio, mask, codes, themes)
    record = SeedingChoice(
        used=False,
        setting=name,
        weight=float(weight),
        reason="",
        n_segments=len(Z),
        n_seeds=int(mask.sum()),
        seeds_per_theme=per,
        n_coded_other=sum(1 for c in codes if c not in vectors),
        contrast_ratio=round(ratio, 3) if np.isfinite(ratio) else None,
    )
    if blocked and setting == "auto":
        record.reason = f"the codebook does not fit these segments: {blocked}"
        logger.info("discovery not seeded by the codebook: %s", record.reason)
        return Z, record
    if not mask.any():
        record.reason = "no segment is coded with a codebook theme and closer to it than average"
        logger.warning("themes.seed_with_codebook is true, but %s: not seeded", record.reason)
        return Z, record
    out = np.array(Z, dtype=np.float32, copy=True)
    rows = np.flatnonzero(mask)
    target = np.stack([vectors[codes[int(i)]] for i in rows])
    out[rows] = l2_normalize((1.0 - weight) * Z[rows] + weight * target)
    record.used = True
    held = ", ".join(f"{t} {c}" for t, c in per.items())
    record.reason = (
        f"{record.n_seeds} of {len(Z)} segments are coded with a codebook theme and closer to it "
        f"than the average segment ({held}); each was moved {weight:g} of the way toward its "
        f"theme's description vector before clustering"
        + (f" ({blocked}; seeded as set)" if blocked else "")
    )
    logger.info("discovery seeded by the codebook: %s", record.reason)
    return out, record


def in_question_directions(setting: bool | str, weight: float) -> SeedingChoice:
    """``auto`` does not seed the question directions themselves: those were chosen because
    their clustering recovers at least as many codebook themes as the full vectors'
    (:func:`themekit.themes.space.choose`), so the codebook has had its say; seeding there as
    well lost themes on the development suite (``prompts_no_qmark`` 2, 2, 2 -> 1, 1, 1 at weight
    0.5; the demo 3 -> 2 at 0.25; benchmarks/RESULTS.md, ninth session). Under
    ``question_space: auto`` the full vectors are seeded instead
    (:func:`over_question_directions`); this record is what stays when they do not pass, or
    when ``question_space: on`` forced the directions."""
    record = SeedingChoice(
        used=False,
        setting=setting_name(setting),
        weight=float(weight),
        reason=(
            "the themes are found in the question directions, which were chosen because their "
            "clustering recovers at least as many of the codebook's themes as the full vectors'; "
            "auto seeds in the full vectors only"
        ),
    )
    logger.info("discovery not seeded by the codebook: %s", record.reason)
    return record


def over_question_directions(
    weight: float,
    Y: np.ndarray,
    codes: Sequence[str],
    vectors: dict[str, np.ndarray],
    ratio: float,
    count: Callable[[np.ndarray], int],
) -> tuple[np.ndarray | None, SeedingChoice, dict[str, Any]]:
    """Where ``themes.question_space: auto`` chose the question directions: the full vectors
    ``Y`` seeded as ``auto`` seeds them (:func:`seed`, its fit check, then :func:`gain_check`
    on ``count``: the codebook themes a clustering of the given vectors recovers, as the
    codebook coding sees them). Returns the seeded full vectors to cluster instead of the
    question directions (None when they do not pass), the seeding record, and the check for
    the space record (``used``, ``unseeded``, ``seeded``, ``codebook_themes``; the counts None
    when the fit check stopped it). On the development suite the seeded full vectors beat the
    question directions on the demo's single sessions (2 -> 3 of 3), and seeding in the
    question directions themselves lost themes (:func:`in_question_directions`;
    benchmarks/RESULTS.md, tenth to twelfth sessions)."""
    out, record = seed("auto", weight, Y, codes, vectors, ratio)
    assert record is not None  # codes are given and the setting is auto
    check: dict[str, Any] = {"used": False, "unseeded": None, "seeded": None}
    check["codebook_themes"] = len(vectors)
    if record.used:
        check["unseeded"], check["seeded"] = count(Y), count(out)
        check["used"] = gain_check(record, check["unseeded"], check["seeded"], len(vectors))
    if check["used"]:
        record.reason += (
            "; so the seeded full vectors were clustered instead of the question directions "
            "(themes.question_space: auto)"
        )
        logger.info("discovery seeded in the full vectors, over the question directions")
        return out, record, check
    record.used = False
    record.reason = (
        f"{in_question_directions('auto', weight).reason}; seeded, the full vectors would not "
        f"be clustered instead: {record.reason}"
    )
    return None, record, check


def gain_check(record: SeedingChoice, unseeded: int, seeded: int, n_themes: int) -> bool:
    """``auto``'s last check: keep the seeds only when the clustering of the seeded vectors
    recovers strictly more of the codebook's themes (``seeded``, as the codebook coding sees
    them, no hand codes) than the clustering of the unseeded ones (``unseeded``). Seeding can
    only be worth its dependence on the codebook's wording when it makes the clustering hold
    more of the codebook's themes; on the 30-segment ``micro`` corpus it made them fewer (2 -> 0)
    and lost hand-coded themes (benchmarks/RESULTS.md, ninth session).

    At the ceiling (both clusterings recover all ``n_themes``) "strictly more" cannot be
    measured, so the seeds are kept, as ``auto`` keeps them wherever the check can speak
    (``record.kept_at_ceiling``; the rule measured in benchmarks/RESULTS.md, twelfth session).
    Updates ``record`` (``codebook_check``, ``used``, ``reason``) and returns whether the seeds
    are kept."""
    record.codebook_check = {"unseeded": unseeded, "seeded": seeded, "codebook_themes": n_themes}
    if seeded > unseeded:
        record.reason += (
            f"; the seeded clustering recovers more of the codebook's themes, as the codebook "
            f"coding sees them, than the unseeded one ({seeded} vs {unseeded} of {n_themes})"
        )
        return True
    if seeded == unseeded == n_themes > 0:
        record.kept_at_ceiling = True
        record.reason += (
            f"; the unseeded clustering already recovers all of the codebook's themes, as the "
            f"codebook coding sees them, and the seeded one does too ({seeded} vs {unseeded} of "
            f"{n_themes}): at that ceiling a gain cannot be measured, so the seeds are kept"
        )
        logger.info("discovery seeded at the codebook ceiling: %s", record.reason)
        return True
    record.used = False
    record.reason = (
        f"the clustering of the seeded vectors would recover no more of the codebook's themes, "
        f"as the codebook coding sees them, than the unseeded one ({seeded} vs {unseeded} of "
        f"{n_themes}), so seeding would add only the codebook's wording"
    )
    logger.info("discovery not seeded by the codebook: %s", record.reason)
    return False
