"""REFI-QDA interchange: the ``.qdpx`` project and ``.qdc`` codebook files that NVivo, ATLAS.ti,
MAXQDA, QDA Miner and QualCoder import and export.

* :mod:`themekit.qda.model` — the in-memory project (:class:`QdaProject`, its codes, sources
  and coded selections, :class:`SegmentSpan`) and the theme colours;
* :mod:`themekit.qda.xml` — namespaces, GUIDs, schema validation against the REFI-QDA XSDs
  shipped in ``themekit/data/refi_qda``, and the XML helpers that writing and reading share;
* :mod:`themekit.qda.spans` — where segments lie in the sources, and which codes fall on them;
* :mod:`themekit.qda.export` — a run as a ``.qdpx`` project (:func:`export_qdpx`,
  :func:`build_project`, :func:`write_qdpx`); :mod:`themekit.qda.folder` — a saved run folder
  as one (:func:`export_run_qdpx`);
* :mod:`themekit.qda.read` — a ``.qdpx`` project read back (:func:`read_qdpx`), its codings
  as hand codes (:func:`read_qdpx_codes`) and the codes of a ``.qdc`` codebook
  (:func:`read_codebook_codes`, :func:`codebook_entries`);
* :mod:`themekit.qda.qdc` — codebooks written as ``.qdc`` files (:func:`write_qdc`);
  :func:`read_qdc` (from :mod:`themekit.codebook`, re-exported here) reads them back.

The direction is one way: :mod:`themekit.codebook` uses the readers here to build a codebook;
nothing here but the writers knows the codebook class.

pyrefiqda (0.3) was looked at first: its pydantic models follow the schema, but its loader
unpacks the archive into a folder on disk, its writer names archive members after local file
names instead of GUIDs, and neither checks a file against the XSD. The XML here is small, so it
is written and read with :mod:`xml.etree` and checked with lxml's XML Schema validator.
"""

from __future__ import annotations

from themekit.codebook import read_qdc
from themekit.qda.export import build_project, export_qdpx, project_xml, write_qdpx
from themekit.qda.folder import export_run_qdpx
from themekit.qda.model import (
    CANDIDATE_FOLDER,
    CODEBOOK_FOLDER,
    OUTLIER_CODE,
    OUTLIER_COLOR,
    PALETTE,
    QdaCode,
    QdaProject,
    QdaSelection,
    QdaSource,
    SegmentSpan,
    theme_color,
)
from themekit.qda.qdc import codebook_codes, codebook_theme_description, write_qdc
from themekit.qda.read import codebook_entries, read_codebook_codes, read_qdpx, read_qdpx_codes
from themekit.qda.spans import MIN_COVER, coded_segments, spans_from_segments, transcript_spans
from themekit.qda.xml import (
    NS_CODEBOOK,
    NS_PROJECT,
    SCHEMA_DIR,
    SchemaError,
    validate_qdpx,
    validate_xml,
)

__all__ = [
    "CANDIDATE_FOLDER",
    "CODEBOOK_FOLDER",
    "MIN_COVER",
    "NS_CODEBOOK",
    "NS_PROJECT",
    "OUTLIER_CODE",
    "OUTLIER_COLOR",
    "PALETTE",
    "SCHEMA_DIR",
    "QdaCode",
    "QdaProject",
    "QdaSelection",
    "QdaSource",
    "SchemaError",
    "SegmentSpan",
    "build_project",
    "codebook_codes",
    "codebook_entries",
    "codebook_theme_description",
    "coded_segments",
    "export_qdpx",
    "export_run_qdpx",
    "project_xml",
    "read_codebook_codes",
    "read_qdc",
    "read_qdpx",
    "read_qdpx_codes",
    "spans_from_segments",
    "theme_color",
    "transcript_spans",
    "validate_qdpx",
    "validate_xml",
    "write_qdc",
    "write_qdpx",
]
