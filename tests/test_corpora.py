"""The development suite's coded corpora (benchmarks/corpora/): each loads with its job as-is,
every segment carries a hand code from its codebook, and the counts in its data card and in the
folder's README are the counts the loader produces. Loading only; nothing is embedded."""

from __future__ import annotations

import collections
import csv
import re
from functools import cache
from pathlib import Path

import pytest

from themekit.codebook import Codebook, load_codebook
from themekit.config import JobConfig, load_config
from themekit.corpus import Segment
from themekit.load import load_corpus

CORPORA = Path(__file__).resolve().parent.parent / "benchmarks" / "corpora"
NAMES = sorted(p.parent.name for p in CORPORA.glob("*/job.yaml"))
LANGUAGES = ("ms", "en", "mixed")


@cache
def _load(name: str) -> tuple[JobConfig, list[Segment], Codebook]:
    cfg = load_config(CORPORA / name / "job.yaml")
    assert cfg.codebook.path, f"{name}: job.yaml names no codebook"
    codebook = load_codebook(cfg.resolve_path(cfg.codebook.path), other_id=cfg.codebook.other_id)
    return cfg, list(load_corpus(cfg)), codebook


def _analysed(segments: list[Segment]) -> list[Segment]:
    return [s for s in segments if not s.is_context]


def _readme_rows() -> dict[str, list[str]]:
    rows = {}
    for line in (CORPORA / "README.md").read_text(encoding="utf-8").splitlines():
        m = re.match(r"\| \[`(\w+)`\]", line)
        if m:
            rows[m.group(1)] = [c.strip() for c in line.strip().strip("|").split("|")]
    return rows


def test_the_suite_has_its_seven_corpora() -> None:
    assert NAMES == sorted(
        [
            "caregiving",
            "excerpts",
            "guide_misaligned",
            "micro",
            "one_to_one",
            "prompts_no_qmark",
            "unbalanced",
        ]
    )
    assert sorted(_readme_rows()) == NAMES
    for name in NAMES:
        assert (CORPORA / name / "DATACARD.md").is_file(), name


@pytest.mark.parametrize("name", NAMES)
def test_every_segment_has_a_code_from_the_codebook(name: str) -> None:
    _cfg, segments, codebook = _load(name)
    ids = set(codebook.ids)
    other = codebook.other_id
    assert segments
    for s in segments:
        assert s.code in ids, f"{s.id}: code {s.code!r} is not a codebook id"
        if s.secondary_code:
            assert s.secondary_code in ids and s.secondary_code not in (other, s.code), s.id
        assert s.language in LANGUAGES, f"{s.id}: language {s.language!r}"
        if s.is_context:
            assert s.code == other, f"{s.id}: a moderator turn is coded {s.code!r}"
    # every real theme of the codebook is used at least once among the analysed segments
    used = {s.code for s in _analysed(segments)}
    assert set(codebook.theme_ids) <= used


@pytest.mark.parametrize("name", NAMES)
def test_hand_codes_name_exactly_the_loaded_segments(name: str) -> None:
    _cfg, segments, _codebook = _load(name)
    path = CORPORA / name / "hand_codes.csv"
    if not path.exists():  # codes in the table itself
        return
    with path.open(encoding="utf-8", newline="") as f:
        rows = list(csv.DictReader(f))
    assert {r["segment_id"]: r["speaker"] for r in rows} == {s.id: s.speaker for s in segments}
    assert len(rows) == len(segments)


@pytest.mark.parametrize("name", NAMES)
def test_data_card_counts_are_the_loaded_counts(name: str) -> None:
    _cfg, segments, codebook = _load(name)
    card = (CORPORA / name / "DATACARD.md").read_text(encoding="utf-8")
    analysed = _analysed(segments)
    assert "Synthetic, written for themekit's development suite" in card
    assert f"Segments: **{len(segments)}**" in card
    assert f"**{len(analysed)} analysed**" in card
    primary = collections.Counter(s.code for s in analysed)
    secondary = collections.Counter(s.secondary_code for s in analysed if s.secondary_code)
    for theme in codebook.ids:
        m = re.search(rf"^\| `{re.escape(theme)}` \| (\d+) \| [\d.]+% \| (\d+|—) \|$", card, re.M)
        assert m, f"{name}: no count row for {theme!r} in DATACARD.md"
        assert int(m.group(1)) == primary[theme], theme
        if theme != codebook.other_id:
            assert int(m.group(2)) == secondary[theme], theme
    languages = collections.Counter(s.language for s in analysed)
    for lang in LANGUAGES:
        assert re.search(rf"^\| `{lang}` \| {languages[lang]} \| ", card, re.M), (name, lang)


@pytest.mark.parametrize("name", NAMES)
def test_readme_row_is_the_loaded_counts(name: str) -> None:
    _cfg, segments, codebook = _load(name)
    row = _readme_rows()[name]
    analysed = _analysed(segments)
    assert int(row[2]) == len({s.session for s in segments})
    assert int(row[3]) == len(segments)
    assert int(row[4]) == len(analysed)
    codes = dict(item.rsplit(" ", 1) for item in row[5].split(", "))
    assert {k: int(v) for k, v in codes.items()} == {
        k: v for k, v in collections.Counter(s.code for s in analysed).items()
    }
    assert set(codes) == set(codebook.ids)
    shares = [int(x) for x in re.findall(r"\d+", row[6])]
    languages = collections.Counter(s.language for s in analysed)
    for lang, share in zip(LANGUAGES, shares, strict=True):
        assert abs(100 * languages[lang] / len(analysed) - share) <= 0.5 + 1e-9, (name, lang)


# ---------------------------------------------------------------- each corpus has its shape
def test_excerpts_has_no_moderator_turns() -> None:
    _cfg, segments, _codebook = _load("excerpts")
    assert not any(s.is_context for s in segments)
    assert not any(s.text.rstrip().endswith("?") for s in segments)


def test_prompts_no_qmark_moderator_asks_half_without_a_question_mark() -> None:
    _cfg, segments, _codebook = _load("prompts_no_qmark")
    context = [s for s in segments if s.is_context]
    assert len(context) == 31
    assert sum(s.text.rstrip().endswith("?") for s in context) == 12
    prompts = (
        "tell ",
        "share with us",
        "cuba ceritakan",
        "walk me through",
        "describe ",
        "i'd like to hear",
        "introduce yourselves",
    )
    no_qmark = [s for s in context if not s.text.rstrip().endswith("?")]
    assert sum(any(p in s.text.lower() for p in prompts) for s in no_qmark) == 13


def test_one_to_one_sessions_have_two_speakers_and_long_answers() -> None:
    _cfg, segments, _codebook = _load("one_to_one")
    by_session: dict[str, list[Segment]] = collections.defaultdict(list)
    for s in segments:
        by_session[s.session].append(s)
    assert len(by_session) == 3
    for session, segs in by_session.items():
        assert len({s.speaker for s in segs}) == 2, session
        assert len({s.speaker for s in segs if s.is_context}) == 1, session
    answers = [s for s in _analysed(segments) if s.code != "other"]
    assert sum(len(s.text.split()) for s in answers) / len(answers) > 60  # 22-36 in the others
    assert sum(bool(s.secondary_code) for s in answers) >= len(answers) // 4


def test_unbalanced_has_a_theme_under_8_percent() -> None:
    _cfg, segments, _codebook = _load("unbalanced")
    analysed = _analysed(segments)
    counts = collections.Counter(s.code for s in analysed)
    assert counts["leader_hope"] / len(analysed) < 0.08
    assert counts["leader_hope"] >= 3


def test_micro_has_30_to_40_segments() -> None:
    _cfg, segments, _codebook = _load("micro")
    assert 30 <= len(segments) <= 40
    assert len(_analysed(segments)) >= 30


def test_caregiving_uses_its_own_codebook() -> None:
    _cfg, _segments, codebook = _load("caregiving")
    assert codebook.theme_ids == ["care_burden", "coping", "family_roles", "services"]
    for theme in codebook.themes:
        assert set(theme.definition) == {"en", "ms"}, theme.id
        assert set(theme.keywords) == {"en", "ms"}, theme.id
        assert {e.language for e in theme.examples} >= {"ms", "en", "mixed"}, theme.id
