"""Export of a saved run folder as a REFI-QDA ``.qdpx`` project (:func:`export_run_qdpx`), read
back with :func:`themekit.rundir.read_run` and written like a run in memory
(:mod:`themekit.qda.export`); and the segments ``themekit suggest`` picks as a project to code
in NVivo, ATLAS.ti or QualCoder (:func:`export_suggestions_qdpx`)."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from themekit.errors import InputError
from themekit.qda.export import _theme_note, build_project, write_qdpx
from themekit.qda.model import CODEBOOK_FOLDER, QdaCode, QdaProject, QdaSelection, QdaSource
from themekit.qda.qdc import codebook_codes
from themekit.qda.spans import _segment_sources
from themekit.qda.xml import _guid

if TYPE_CHECKING:  # pragma: no cover
    from themekit.codebook import Codebook
    from themekit.rundir import SavedRun

logger = logging.getLogger(__name__)


def export_run_qdpx(run_dir: str | Path, out: str | Path) -> Path:
    """Export a run folder (``segments.csv``, ``assignments.csv``, ``themes.json``,
    ``config.yaml``) as a ``.qdpx`` project; returns ``out``."""
    from themekit.corpus import Corpus
    from themekit.rundir import read_run

    run = read_run(run_dir, require=("segments.csv", "assignments.csv"))
    corpus = Corpus.from_frame(run.segments)
    assign = run.assignments
    by_id = {str(r["segment_id"]): r for r in assign.to_dict(orient="records")}
    missing = [s.id for s in corpus if s.id not in by_id and not s.is_context]
    if missing:
        raise InputError(
            f"{len(missing)} segment(s) have no row in assignments.csv, e.g. {missing[0]!r}",
            path=run.path,
        )
    segments = [s for s in corpus if not s.is_context]
    labels = [int(by_id[s.id]["theme_id"]) for s in segments]
    cb_theme = None
    if "codebook_theme" in assign.columns:
        cb_theme = [str(by_id[s.id]["codebook_theme"]) or None for s in segments]
    theme_labels = {
        int(r["theme_id"]): str(r["theme_label"]) for r in by_id.values() if int(r["theme_id"]) >= 0
    }
    notes: dict[int, str] = {}
    for t in run.themes:
        theme_labels[int(t["id"])] = str(t["label"])
        notes[int(t["id"])] = _theme_note(_Obj(t))
    encoding, fmt, codebook = "auto", "auto", None
    cfg = run.config_data
    if cfg is not None:
        corpus_cfg = cfg.get("corpus") or {}
        encoding, fmt = corpus_cfg.get("encoding", "auto"), corpus_cfg.get("format", "auto")
        cb_path = (cfg.get("codebook") or {}).get("path")
        if cb_path and cb_theme is not None:
            codebook = _try_codebook(run, cb_path)
    project, _ = build_project(
        list(corpus),
        labels,
        theme_labels,
        codebook_theme=cb_theme,
        codebook=codebook,
        theme_notes=notes,
        name=f"themekit run {run.path.name}",
        encoding=encoding,
        fmt=fmt,
    )
    return write_qdpx(project, out)


#: The code that marks the segments ``themekit suggest`` picked.
TO_CODE = "To code next"


def export_suggestions_qdpx(
    run_dir: str | Path, segment_ids: Sequence[str], classes: Sequence[str], out: str | Path
) -> Path:
    """The run's transcripts as a ``.qdpx`` project in which the suggested segments
    (``segment_ids``, in the order suggested) are selections coded ``To code next``, with the
    codebook's themes (or the coder's ``classes`` when the run had no codebook) as empty codes
    under ``Codebook themes`` for the researcher to apply. The coder's guesses are left out, so
    that they do not anchor the coding (the CSV has them). ``themekit evaluate RUN --codes coded.qdpx``
    (:func:`themekit.qda.read_qdpx_codes`) reads the coded project back."""
    from themekit.corpus import Corpus
    from themekit.rundir import read_run

    run = read_run(run_dir, require=("segments.csv",))
    corpus = Corpus.from_frame(run.segments)
    cfg = run.config_data or {}
    corpus_cfg = cfg.get("corpus") or {}
    texts, spans = _segment_sources(
        list(corpus),
        encoding=corpus_cfg.get("encoding", "auto"),
        fmt=corpus_cfg.get("format", "auto"),
    )
    key = f"suggestions {run.path.name}"
    source_guid = {name: _guid("source", key, name) for name in texts}
    cb_root = QdaCode(
        _guid("folder", key, CODEBOOK_FOLDER),
        CODEBOOK_FOLDER,
        "Apply these to the segments coded 'To code next'",
        codable=False,
    )
    cb_path = (cfg.get("codebook") or {}).get("path")
    codebook = _try_codebook(run, cb_path) if cb_path else None
    if codebook is not None:
        theme_codes = codebook_codes(codebook, parent=cb_root.guid)
    else:
        theme_codes = [QdaCode(_guid("codebook", key, c), c, parent=cb_root.guid) for c in classes]
    todo = QdaCode(
        _guid("todo", key),
        TO_CODE,
        "Segments whose hand coding would teach the run's fine-tuned coder most (themekit "
        "suggest): code each with one of the Codebook themes",
    )
    missing = [s for s in segment_ids if s not in spans]
    if missing:
        raise InputError(f"suggested segment {missing[0]!r} is not in the run", path=run.path)
    selections = [
        QdaSelection(
            _guid("selection", key, sid),
            source_guid[spans[sid].source],
            spans[sid].start,
            spans[sid].end,
            (todo.guid,),
            name=sid,
        )
        for sid in segment_ids
    ]
    project = QdaProject(
        name=f"themekit suggestions {run.path.name}",
        codes=[todo, cb_root, *theme_codes],
        sources=[QdaSource(source_guid[n], n, t) for n, t in texts.items()],
        selections=selections,
        description=f"{len(selections)} segments to code next, suggested by themekit",
    )
    return write_qdpx(project, out)


class _Obj:
    def __init__(self, d: dict[str, Any]) -> None:
        self.keywords_by_language = d.get("keywords_by_language") or {}
        self.codebook_theme = d.get("codebook_theme")
        self.description = d.get("description") or ""
        self.keyphrases_by_language = d.get("keyphrases_by_language") or {}
        self.codebook_name = d.get("codebook_name")
        self.codebook_similarity = d.get("codebook_similarity")


def _try_codebook(run: SavedRun, cb_path: str) -> Codebook | None:
    from themekit.codebook import load_codebook
    from themekit.errors import UserError

    try:
        job = run.config
        return load_codebook(job.resolve_path(cb_path), other_id=job.codebook.other_id)
    except UserError as exc:
        logger.warning(
            "codebook %s not read (%s); codebook codes carry no descriptions", cb_path, exc
        )
        return None
