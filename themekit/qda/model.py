"""The in-memory REFI-QDA project that themekit writes and reads: codes, text sources, coded
selections, and where a segment lies in a source; also the theme colours shared with the HTML
report."""

from __future__ import annotations

from dataclasses import dataclass, field

CANDIDATE_FOLDER = "Candidate themes"
CODEBOOK_FOLDER = "Codebook themes"
OUTLIER_CODE = "Outliers"
# plotly's qualitative "Plotly" palette followed by "D3": the HTML report uses the same order
PALETTE = (
    "#636EFA",
    "#EF553B",
    "#00CC96",
    "#AB63FA",
    "#FFA15A",
    "#19D3F3",
    "#FF6692",
    "#B6E880",
    "#FF97FF",
    "#FECB52",
    "#1F77B4",
    "#FF7F0E",
    "#2CA02C",
    "#D62728",
    "#9467BD",
    "#8C564B",
    "#E377C2",
    "#7F7F7F",
    "#BCBD22",
    "#17BECF",
)
OUTLIER_COLOR = "#B0B0B0"


def theme_color(theme_id: int) -> str:
    """The colour of a candidate theme, the same in the HTML report and the ``.qdpx`` export."""
    return OUTLIER_COLOR if theme_id < 0 else PALETTE[theme_id % len(PALETTE)]


# ================================================================================ plain data
@dataclass(frozen=True)
class QdaCode:
    guid: str
    name: str
    description: str = ""
    parent: str | None = None  # guid of the parent code
    codable: bool = True
    color: str | None = None


@dataclass(frozen=True)
class QdaSource:
    guid: str
    name: str
    text: str


@dataclass(frozen=True)
class QdaSelection:
    """A coded stretch of a text source: ``text[start:end]`` carries ``codes`` (code GUIDs)."""

    guid: str
    source: str  # source guid
    start: int
    end: int
    codes: tuple[str, ...]
    name: str = ""


@dataclass
class QdaProject:
    """What themekit reads from, and writes to, a REFI-QDA project."""

    name: str
    codes: list[QdaCode] = field(default_factory=list)
    sources: list[QdaSource] = field(default_factory=list)
    selections: list[QdaSelection] = field(default_factory=list)
    origin: str = "themekit"
    description: str = ""

    def code(self, guid: str) -> QdaCode:
        for c in self.codes:
            if c.guid == guid:
                return c
        raise KeyError(guid)

    def code_path(self, guid: str) -> list[str]:
        """Names from the top-level folder down to the code."""
        by_guid = {c.guid: c for c in self.codes}
        path: list[str] = []
        seen: set[str] = set()
        cur: str | None = guid
        while cur is not None and cur in by_guid and cur not in seen:
            seen.add(cur)
            path.append(by_guid[cur].name)
            cur = by_guid[cur].parent
        return path[::-1]

    def source(self, guid: str) -> QdaSource:
        for s in self.sources:
            if s.guid == guid:
                return s
        raise KeyError(guid)


@dataclass(frozen=True)
class SegmentSpan:
    """Where a segment lies in a text source."""

    segment_id: str
    source: str  # source name as written in the project (e.g. ``week1.txt``)
    start: int
    end: int
