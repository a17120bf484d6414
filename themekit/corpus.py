"""Segments and corpora: the plain objects that every stage after loading takes as input."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass, field, fields
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover
    import datasets
    import pandas as pd

#: Language labels used throughout themekit.
LANGUAGES = ("ms", "en", "mixed", "unknown")


@dataclass(frozen=True, slots=True)
class Segment:
    """One unit of talk that carries (ideally) one idea.

    ``text`` is what gets embedded; transcription marks such as ``[inaudible]`` are kept in
    ``meta`` rather than in ``text``. ``code`` / ``secondary_code`` hold hand codes when the
    corpus has them. Slotted: one object per segment and no ``__dict__`` (issue 15).
    """

    id: str
    text: str
    session: str = ""
    speaker: str = ""
    position: int = 0
    language: str = "unknown"
    source: str = ""
    start: float | None = None
    end: float | None = None
    char_start: int | None = None
    char_end: int | None = None
    code: str | None = None
    secondary_code: str | None = None
    is_context: bool = False
    meta: dict[str, Any] = field(default_factory=dict, compare=False, hash=False)

    @property
    def text_hash(self) -> str:
        return hashlib.sha256(self.text.encode("utf-8")).hexdigest()


_COLUMNS = [f.name for f in fields(Segment)]


@dataclass
class Corpus:
    """An ordered collection of segments with unique ids."""

    segments: list[Segment]

    def __post_init__(self) -> None:
        from themekit.errors import InputError

        seen: dict[str, Segment] = {}
        for seg in self.segments:
            if seg.id in seen:
                other = seen[seg.id]
                raise InputError(
                    f"duplicate segment id {seg.id!r} (in {other.source or '?'} and "
                    f"{seg.source or '?'}); every segment needs a unique id",
                    path=seg.source or None,
                )
            seen[seg.id] = seg

    # -- sequence protocol -------------------------------------------------------------
    def __len__(self) -> int:
        return len(self.segments)

    def __iter__(self) -> Iterator[Segment]:
        return iter(self.segments)

    def __getitem__(self, i: int) -> Segment:
        return self.segments[i]

    # -- views ---------------------------------------------------------------------------
    @property
    def ids(self) -> list[str]:
        return [s.id for s in self.segments]

    @property
    def texts(self) -> list[str]:
        return [s.text for s in self.segments]

    @property
    def languages(self) -> list[str]:
        return [s.language for s in self.segments]

    @property
    def speakers(self) -> list[str]:
        return [s.speaker for s in self.segments]

    @property
    def sessions(self) -> list[str]:
        return [s.session for s in self.segments]

    @property
    def codes(self) -> list[str | None]:
        return [s.code for s in self.segments]

    @property
    def has_codes(self) -> bool:
        """True when every analysed segment carries a hand code."""
        analysed = self.analysed()
        return len(analysed) > 0 and all(s.code for s in analysed)

    def analysed(self) -> Corpus:
        """The segments that are clustered (context-only segments removed)."""
        return Corpus([s for s in self.segments if not s.is_context])

    # -- conversion ----------------------------------------------------------------------
    def to_records(self) -> list[dict[str, Any]]:
        return [asdict(s) for s in self.segments]

    def to_frame(self) -> pd.DataFrame:
        import pandas as pd

        return pd.DataFrame(self.to_records(), columns=_COLUMNS)

    @classmethod
    def from_records(cls, records: Iterable[dict[str, Any]]) -> Corpus:
        segs = []
        for r in records:
            kw = {k: _none_if_nan(r.get(k)) for k in _COLUMNS if k in r}
            kw["meta"] = dict(kw.get("meta") or {})
            kw["id"] = str(kw["id"])
            kw["text"] = str(kw["text"])
            for key in ("session", "speaker", "source"):
                if kw.get(key) is None:
                    kw.pop(key, None)
            if kw.get("language") is None:
                kw.pop("language", None)
            for key in ("char_start", "char_end"):  # a DataFrame column with gaps is float
                if kw.get(key) is not None:
                    kw[key] = int(kw[key])
            if kw.get("position") is not None:
                kw["position"] = int(kw["position"])
            else:
                kw.pop("position", None)
            if kw.get("is_context") is None:
                kw.pop("is_context", None)
            segs.append(Segment(**kw))
        return cls(segs)

    @classmethod
    def from_frame(cls, df: pd.DataFrame) -> Corpus:
        return cls.from_records(
            {str(k): v for k, v in r.items()} for r in df.to_dict(orient="records")
        )

    def to_dataset(self) -> datasets.Dataset:
        import datasets

        recs = self.to_records()
        for r in recs:
            r["meta"] = {str(k): str(v) for k, v in r["meta"].items()}
            r["meta"] = [[k, v] for k, v in r["meta"].items()]
        return datasets.Dataset.from_list(recs)

    @classmethod
    def from_dataset(cls, ds: datasets.Dataset) -> Corpus:
        recs = []
        for r in ds:
            r = dict(r)
            r["meta"] = {k: v for k, v in (r.get("meta") or [])}
            recs.append(r)
        return cls.from_records(recs)


def _none_if_nan(v: Any) -> Any:
    if isinstance(v, float) and v != v:
        return None
    return v
