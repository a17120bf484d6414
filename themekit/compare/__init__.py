"""Comparing machine themes with hand coding.

:func:`compare` takes each segment's candidate theme (or the machine's codebook coding) and its
hand code and returns :class:`Scores`: theme recall and precision after matching, segment-level
agreement (Cohen's kappa, Krippendorff's alpha, percent agreement, per-code and macro F1, with
bootstrap intervals), clustering agreement that needs no matching (ARI, AMI, NMI, V-measure),
the outlier rate and cross-lingual consistency. :func:`methods_paragraph` and
:func:`contingency_markdown` put the scores into words for a report.

Modules: ``matching`` (contingency table, one-to-one and many-to-one matching, recovery),
``agreement`` (kappa, alpha, F1, bootstrap), ``clustering`` (ARI/NMI, language mixing,
translation pairs), ``scores`` (the result and the metric definitions), ``inputs`` (checking the
inputs, choosing the scored segments), ``compute`` (the comparison), ``text`` (the paragraph and
the table).
"""

from __future__ import annotations

from themekit.compare.compute import compare
from themekit.compare.scores import Scores, definitions
from themekit.compare.text import MEASURES, contingency_markdown, methods_paragraph

__all__ = [
    "MEASURES",
    "Scores",
    "compare",
    "contingency_markdown",
    "definitions",
    "methods_paragraph",
]
