"""Score an existing run folder against a hand-codes file (``themekit evaluate``).

The same run can be checked against several coders: each evaluation is written to
``<run>/evaluations/<name>/scores.json`` (and ``report.md``), never over the run's own files.
"""

from __future__ import annotations

import logging
from pathlib import Path

import pandas as pd

from themekit.errors import InputError

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


def evaluate_run(run_dir: str | Path, codes: str | Path, *, name: str | None = None) -> Path:
    """Compare a run's assignments with a hand-codes file; return the evaluation folder."""
    from themekit.compare import compare
    from themekit.rundir import read_run

    codes = Path(codes)
    run = read_run(run_dir, require=("assignments.csv", "config.yaml"))
    run_dir = run.path
    cfg = run.config
    assign = run.assignments
    segments = run.segments if (run_dir / "segments.csv").is_file() else None
    hand = read_hand_codes(codes, segments)
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
    from themekit.rundir import atomic_folder, write_json

    name = name or codes.stem
    final = run_dir / "evaluations" / name
    with atomic_folder(final, replace=True) as tmp:
        data = scores.to_dict()
        data["hand_codes_file"] = str(codes.resolve())
        write_json(tmp / "scores.json", data)
        (tmp / "report.md").write_text(
            f"# Evaluation against {codes.name}\n\n{methods_paragraph(scores)}\n\n"
            f"{contingency_markdown(scores)}\n",
            encoding="utf-8",
        )
    return final
