"""``corpus`` and ``segmentation`` sections: what to read and how to cut it into segments."""

from __future__ import annotations

import re
from typing import Literal

from pydantic import Field, field_validator, model_validator

from themekit.config._base import Section

#: Defaults of ``language``, also used by :class:`themekit.language.LanguageDetector`.
DEFAULT_MIN_WORDS = 3
DEFAULT_MIXED_THRESHOLD = 0.12

Format = Literal["auto", "transcript", "vtt", "srt", "docx", "csv", "tsv", "jsonl", "parquet"]


class Columns(Section):
    """Maps themekit's field names to the column names of a table of segments.

    ``text`` must exist. A column you set explicitly must exist too; the others are used when
    the table has them (``id`` also as ``segment_id``/``seg_id``, ``language`` also as
    ``lang``). Set a field to null to ignore that column.
    """

    id: str | None = "id"
    text: str = "text"
    speaker: str | None = "speaker"
    language: str | None = "language"
    session: str | None = "session"
    code: str | None = "code"
    secondary_code: str | None = "secondary_code"
    start: str | None = Field("start", description="start time (seconds or hh:mm:ss), optional")
    end: str | None = Field("end", description="end time (seconds or hh:mm:ss), optional")


class CorpusConfig(Section):
    """Where the transcripts are. Relative paths resolve against the config file's folder;
    ``themekit://demo`` names the bundled demo corpus."""

    path: str | list[str] = Field(..., description="file, folder, glob, or a list of them")
    format: Format = "auto"
    columns: Columns = Field(default_factory=Columns)
    hand_codes: str | None = Field(
        None,
        description="optional table of hand codes (segment_id, code[, secondary_code, language])",
    )
    encoding: str = Field("auto", description="'auto' detects the encoding of non-UTF-8 files")
    session: str | None = Field(None, description="session name when a single file is read")
    lenient: bool = Field(
        False,
        description="drop subtitle cues with bad timing (with a warning naming each) instead "
        "of stopping",
    )


class SegmentationConfig(Section):
    strategy: Literal["turn", "sentences", "window"] = "turn"
    max_tokens: int = Field(96, ge=8, le=2048, description="token budget for 'sentences'")
    window_tokens: int = Field(80, ge=8, le=2048, description="window size for 'window'")
    window_stride: int = Field(40, ge=1, le=2048, description="stride for 'window'")
    moderator: Literal["keep", "drop", "context"] = Field(
        "context",
        description=(
            "moderator/interviewer turns: 'context' (not analysed; read with the answers that "
            "follow them), 'keep' (analysed like any turn) or 'drop'"
        ),
    )
    moderator_pattern: str = Field(
        r"(?i)(^|[(\[]\s*)(moderator|mod|fasilitator|facilitator|fasi|pemudah ?cara|interviewer|"
        r"int|penemu ?ramah|penemu ?bual|pewawancara|researcher|penyelidik|host|pengacara)\b",
        description="regular expression matched against the speaker name",
    )
    moderator_detect: bool = Field(
        True,
        description=(
            "in a session where no speaker matches moderator_pattern and the turns read as a "
            "conversation, read as the moderator the speaker who ends at least half of their "
            "turns (3 or more) with a question mark while the others mostly answer"
        ),
    )
    min_chars: int = Field(1, ge=0, description="segments shorter than this are dropped")

    @field_validator("moderator_pattern")
    @classmethod
    def _valid_regex(cls, value: str) -> str:
        try:
            re.compile(value)
        except re.error as exc:
            raise ValueError(f"not a valid regular expression ({exc})") from None
        return value

    @model_validator(mode="after")
    def _stride_within_window(self) -> SegmentationConfig:
        if self.window_stride > self.window_tokens:
            raise ValueError(
                f"window_stride ({self.window_stride}) must not exceed window_tokens "
                f"({self.window_tokens}), or words between windows would be lost"
            )
        return self


class LanguageConfig(Section):
    detect: bool = Field(True, description="detect the language of segments that lack one")
    min_words: int = Field(
        DEFAULT_MIN_WORDS, ge=1, description="below this many words a segment is 'unknown'"
    )
    mixed_threshold: float = Field(
        DEFAULT_MIXED_THRESHOLD,
        ge=0.0,
        le=0.5,
        description="minority-language share of words above which a segment is 'mixed' "
        "(the default agrees best with the demo corpus's recorded languages)",
    )
