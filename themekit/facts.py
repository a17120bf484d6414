"""The facts both reports state about a run (:func:`run_facts`), and the number formats and
sentences they share. ``report.md`` (:mod:`themekit.report`) and ``report.html``
(:mod:`themekit.report_html`) format these; neither counts anything itself.

Sentences are returned as text with code in backticks (Markdown); the HTML report escapes them
and turns the backticks into ``<code>`` (:func:`themekit.html_parts.inline`).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # pragma: no cover
    from themekit.result import RunResult


def pct(x: float | None) -> str:
    """A share as a percentage with one decimal (``"n/a"`` for None)."""
    return "n/a" if x is None else f"{100 * x:.1f}%"


def num(x: float | None, nd: int = 2) -> str:
    """A number with ``nd`` decimals (``"n/a"`` for None)."""
    return "n/a" if x is None else f"{x:.{nd}f}"


@dataclass(frozen=True)
class RunFacts:
    """What a run was made of and what it found, as the reports' overviews state it."""

    n_segments: int
    n_sessions: int
    n_speakers: int
    #: segments per language, by language code (sorted)
    languages: dict[str, int]
    n_context_segments: int
    n_with_prompt_context: int
    context_weight: float
    question_components: int
    mode: str
    model_id: str
    seed: int
    n_themes: int
    n_outliers: int
    n_outliers_initial: int
    codebook_name: str | None
    n_codebook_themes: int
    cohen_kappa: float | None
    #: ids of the themes flagged as unstable across reruns
    flagged_themes: list[int]

    @property
    def outlier_share(self) -> float | None:
        return self.n_outliers / self.n_segments if self.n_segments else None


def run_facts(result: RunResult) -> RunFacts:
    """The facts of ``result`` (its corpus, labels, themes, manifest, config and scores)."""
    corpus, m, cfg = result.corpus, result.manifest, result.config
    return RunFacts(
        n_segments=len(corpus),
        n_sessions=len(set(corpus.sessions)),
        n_speakers=len(set(corpus.speakers)),
        languages=dict(sorted(Counter(corpus.languages).items())),
        n_context_segments=m.n_context_segments,
        n_with_prompt_context=m.n_segments_with_prompt_context,
        context_weight=cfg.embedding.context_weight,
        question_components=m.question_components,
        mode=cfg.themes.mode,
        model_id=m.model_id,
        seed=cfg.seed,
        n_themes=len(result.themes),
        n_outliers=int((result.labels == -1).sum()),
        n_outliers_initial=m.n_outliers_initial,
        codebook_name=result.codebook.name if result.codebook is not None else None,
        n_codebook_themes=len(result.codebook.themes) if result.codebook is not None else 0,
        cohen_kappa=result.scores.cohen_kappa if result.scores is not None else None,
        flagged_themes=[t.id for t in result.themes if getattr(t, "flagged", False)],
    )
