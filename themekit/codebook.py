"""The codebook: the researcher's themes, with definitions, keywords and examples in both languages.

A codebook is a YAML file (format in the README)::

    name: ...
    themes:
      - id: support
        name: The group gives me support to sustain my recovery
        definition: {en: ..., ms: ...}
        include: [...]
        exclude: [...]
        keywords: {en: [...], ms: [...]}
        examples: [{text: ..., language: ms}, ...]

The theme stage embeds :meth:`Codebook.descriptions` to code segments (guided mode) and to name
candidate themes after the codebook theme they resemble.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from themekit.errors import InputError


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Example(_Strict):
    text: str = Field(min_length=1)
    language: str = "unknown"


class CodebookTheme(_Strict):
    id: str = Field(min_length=1, pattern=r"^[A-Za-z0-9_\-\.]+$")
    name: str
    definition: dict[str, str] = Field(default_factory=dict)
    include: list[str] = Field(default_factory=list)
    exclude: list[str] = Field(default_factory=list)
    keywords: dict[str, list[str]] = Field(default_factory=dict)
    examples: list[Example] = Field(default_factory=list)

    @field_validator("definition", "keywords", mode="before")
    @classmethod
    def _lang_map(cls, v: object) -> object:
        # a plain string definition / keyword list means "one language we do not know"
        if isinstance(v, str):
            return {"any": v}
        if isinstance(v, list):
            return {"any": v}
        return v

    @property
    def all_keywords(self) -> list[str]:
        return [k for words in self.keywords.values() for k in words]

    def descriptions(self) -> list[str]:
        """Short texts that describe the theme: its name, definitions, inclusion notes,
        keywords (one text per language) and examples. These are what get embedded."""
        texts = [self.name]
        texts += [d for d in self.definition.values() if d.strip()]
        texts += [n for n in self.include if n.strip()]
        texts += [", ".join(words) for words in self.keywords.values() if words]
        texts += [e.text for e in self.examples]
        return texts


class Codebook(_Strict):
    name: str = "codebook"
    version: str = ""
    description: str = ""
    themes: list[CodebookTheme] = Field(min_length=1)
    other_id: str = "other"

    @model_validator(mode="after")
    def _unique_ids(self) -> Codebook:
        seen: set[str] = set()
        for t in self.themes:
            if t.id in seen:
                raise ValueError(f"theme id {t.id!r} appears twice")
            seen.add(t.id)
        return self

    @property
    def ids(self) -> list[str]:
        return [t.id for t in self.themes]

    @property
    def theme_ids(self) -> list[str]:
        """Ids of the real themes (the ``other`` entry excluded)."""
        return [t.id for t in self.themes if t.id != self.other_id]

    def get(self, theme_id: str) -> CodebookTheme:
        for t in self.themes:
            if t.id == theme_id:
                return t
        raise KeyError(theme_id)

    def descriptions(self) -> tuple[list[str], list[str]]:
        """All description texts and, for each, the id of its theme."""
        texts: list[str] = []
        owners: list[str] = []
        for t in self.themes:
            d = t.descriptions()
            texts += d
            owners += [t.id] * len(d)
        return texts, owners


def load_codebook(path: str | Path, *, other_id: str = "other") -> Codebook:
    """Read and validate a codebook: a YAML file, or a REFI-QDA ``.qdc`` codebook or ``.qdpx``
    project (:func:`read_qdc`). Errors name the file and the offending entry."""
    path = Path(path)
    if not path.is_file():
        raise InputError("codebook file not found", path=path)
    if path.suffix.lower() in (".qdc", ".qdpx"):
        return read_qdc(path, other_id=other_id)
    from themekit.config.job import load_yaml
    from themekit.errors import ConfigError

    try:
        data = load_yaml(path.read_text(encoding="utf-8"), source=path)
    except UnicodeDecodeError as exc:
        raise InputError(f"codebook is not valid UTF-8 YAML: {exc}", path=path) from None
    except ConfigError as exc:  # not YAML, or past the limits
        raise InputError(f"codebook: {exc}") from None
    if not isinstance(data, dict):
        raise InputError("a codebook must be a mapping with a 'themes' list", path=path)
    data.setdefault("other_id", other_id)
    return codebook_from_dict(data, path=path)


def read_qdc(path: str | Path, *, other_id: str = "other") -> Codebook:
    """A codebook from a REFI-QDA ``.qdc`` file, or from the code book of a ``.qdpx`` project:
    every codable code is a theme (:func:`themekit.qda.read.codebook_entries` reads the
    descriptions themekit writes field by field)."""
    from themekit.qda.read import codebook_entries, read_codebook_codes

    path = Path(path)
    name, codes = read_codebook_codes(path)
    themes = codebook_entries(codes, path=path)
    return codebook_from_dict({"name": name, "themes": themes, "other_id": other_id}, path=path)


def codebook_from_dict(data: dict[str, Any], *, path: Path) -> Codebook:
    """Validate codebook data read from ``path``; problems are listed as ``[location] message``."""
    try:
        return Codebook.model_validate(data)
    except ValidationError as err:
        problems = []
        for e in err.errors():
            loc = ".".join(str(p) for p in e["loc"])
            problems.append(f"[{loc}] {e['msg']}")
        raise InputError("invalid codebook: " + "; ".join(problems), path=path) from None
