"""Score an existing run folder against a hand-codes file (``themekit evaluate``).

The same run can be checked against several coders: each evaluation is written to
``<run>/evaluations/<name>/scores.json`` (and ``report.md``), never over the run's own files.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd

from themekit.errors import InputError

if TYPE_CHECKING:  # pragma: no cover
    from themekit.config import JobConfig

logger = logging.getLogger(__name__)


def read_hand_codes(path: Path, segments: pd.DataFrame | None = None) -> pd.DataFrame:
    """Hand codes as a table with ``segment_id``, ``code`` and ``secondary_code``.

    Tables (CSV, TSV, JSONL, Parquet) are read by the same reader as ``corpus.hand_codes``
    (:func:`themekit.load.read_hand_codes`); a REFI-QDA ``.qdpx`` project's codings are matched
    to ``segments`` (a run's ``segments.csv``) by character position.
    """
    if not path.exists():
        raise InputError("hand-codes file not found", path=path)
    if path.suffix.lower() == ".qdpx":
        from themekit.qda import read_qdpx_codes

        records = segments.to_dict("records") if segments is not None else None
        return read_qdpx_codes(path, records)
    from themekit.load import read_hand_codes as read_code_tables

    codes = read_code_tables([path])
    uncoded = [seg_id for seg_id, hc in codes.items() if not hc.code]
    if uncoded:
        raise InputError(
            f"{len(uncoded)} segment(s) without a code, first {uncoded[0]!r}", path=path
        )
    return pd.DataFrame(
        [
            {"segment_id": seg_id, "code": hc.code, "secondary_code": hc.secondary_code or ""}
            for seg_id, hc in codes.items()
        ],
        columns=["segment_id", "code", "secondary_code"],
    )


def _check_known(
    hand: pd.DataFrame, cfg: JobConfig, path: Path, policy: str | None = None
) -> pd.DataFrame:
    """Hand codes checked against the run's codebook (``evaluation.unknown_codes``)."""
    if not cfg.codebook.path:
        return hand
    from themekit.codebook import load_codebook
    from themekit.corpus import Segment
    from themekit.load import check_codes

    book_path = cfg.resolve_path(cfg.codebook.path)
    if not book_path.is_file():
        logger.warning(
            "the run's codebook %s is gone: hand codes not checked against its ids", book_path
        )
        return hand
    book = load_codebook(book_path, other_id=cfg.codebook.other_id)
    segs = [
        Segment(
            id=str(r.segment_id),
            text="",
            code=str(r.code) or None,
            secondary_code=str(r.secondary_code) or None,
            meta={"code_source": f"{path}"},
        )
        for r in hand.itertuples()
    ]
    checked = check_codes(segs, book.ids, book.other_id, policy or cfg.evaluation.unknown_codes)
    out = hand.copy()
    out["code"] = [s.code for s in checked]
    out["secondary_code"] = [s.secondary_code or "" for s in checked]
    return out[out["code"].notna()]


def evaluate_run(
    run_dir: str | Path,
    codes: str | Path,
    *,
    name: str | None = None,
    unknown_codes: str | None = None,
) -> Path:
    """Compare a run's assignments with a hand-codes file; return the evaluation folder.

    ``unknown_codes`` ("error" or "ignore") overrides the run's ``evaluation.unknown_codes``
    for codes that are not ids of the run's codebook."""
    from themekit.compare import compare
    from themekit.rundir import (
        atomic_folder,
        check_replaceable,
        read_run,
        safe_name,
        write_json,
    )

    codes = Path(codes)
    name = safe_name(
        name or codes.stem, what="the evaluation name (--name, default: the file's stem)"
    )
    check_replaceable(Path(run_dir) / "evaluations" / name, replace=True, kind="evaluation")
    run = read_run(run_dir, require=("assignments.csv", "config.yaml"))
    run_dir = run.path
    final = run_dir / "evaluations" / name
    cfg = run.config
    assign = run.assignments
    segments = run.segments if (run_dir / "segments.csv").is_file() else None
    hand = read_hand_codes(codes, segments)
    hand = _check_known(hand, cfg, codes, unknown_codes)
    merged = assign.merge(
        hand[["segment_id", "code", "secondary_code"]], on="segment_id", how="left"
    )
    missing = merged["code"].isna().sum()
    if missing == len(merged):
        raise InputError(
            "no segment id of the run appears in the hand-codes file "
            f"(run ids look like {assign['segment_id'].iloc[0]!r}, file ids like {hand['segment_id'].iloc[0]!r})",
            path=codes,
        )
    if missing:
        logger.warning(
            "%d of %d run segments have no hand code in %s; they are not scored",
            missing,
            len(merged),
            codes,
        )
    merged = merged[merged["code"].notna()]
    if "scored" in merged.columns:
        merged = merged[merged["scored"].astype(str).str.lower().isin(("true", "1"))]
    codebook_theme = (
        merged["codebook_theme"].tolist() if "codebook_theme" in merged.columns else None
    )
    scores = compare(
        merged["theme_id"].astype(int).tolist(),
        merged["code"].astype(str).tolist(),
        secondary_codes=[s or None for s in merged["secondary_code"].astype(str)],
        codebook_theme=codebook_theme,
        languages=merged["language"].astype(str).tolist() if "language" in merged.columns else None,
        other_id=cfg.codebook.other_id,
        recovery_threshold=cfg.evaluation.recovery_threshold,
        bootstrap=cfg.evaluation.bootstrap,
        confidence=cfg.evaluation.confidence,
        seed=cfg.seed,
    )
    from themekit.compare import contingency_markdown, methods_paragraph
    from themekit.explain import confusion_markdown

    confusion = ""
    machine = [str(c) for c in merged["codebook_theme"].fillna("")] if codebook_theme else []
    if any(machine):  # the codebook coding against these hand codes
        other = cfg.codebook.other_id
        found = sorted(set(machine) - {other, ""})
        confusion = confusion_markdown(
            machine,
            merged["code"].astype(str).tolist(),
            [*found, other],
            level="##",
        )

    with atomic_folder(final, replace=True, kind="evaluation") as tmp:
        data = scores.to_dict()
        data["hand_codes_file"] = str(codes.resolve())
        write_json(tmp / "scores.json", data)
        (tmp / "report.md").write_text(
            f"# Evaluation against {codes.name}\n\n{methods_paragraph(scores)}\n\n"
            f"{contingency_markdown(scores)}\n" + (f"\n{confusion}\n" if confusion else ""),
            encoding="utf-8",
        )
    return final
