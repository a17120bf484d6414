"""Reading transcripts: every format, the demo corpus, hand codes, and every kind of bad input."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from themekit.config import config_from_dict
from themekit.corpus import Corpus
from themekit.errors import ConfigError, InputError, UserError
from themekit.load import input_files, load_corpus
from themekit.normalize import normalize_text
from themekit.readers import source_text

DATA = Path(__file__).parent / "data" / "ingest"
DEMO = Path(__file__).resolve().parent.parent / "themekit" / "data" / "demo"
CODES = {"support", "giving_back", "leader_hope", "other"}


def load(path: str | list[str], base: Path = DATA, **corpus: Any) -> Corpus:
    section: dict[str, Any] = {"path": path, **corpus}
    extra = section.pop("sections", {})
    return load_corpus(config_from_dict({"corpus": section, **extra}, base_dir=base))


def assert_offsets(corpus: Corpus, exact: bool = True) -> None:
    """Every segment's span in the source text normalises to the segment's text (``exact``),
    or (subtitles, whose merged cues have timing lines between them) starts with its first
    word and ends with its last."""
    texts: dict[str, str] = {}
    for seg in corpus:
        assert seg.char_start is not None and seg.char_end is not None
        src = texts.setdefault(seg.source, source_text(seg.source))
        span = src[seg.char_start : seg.char_end]
        if exact:
            assert normalize_text(span).text == seg.text
        else:
            words = seg.text.split()
            assert span.startswith(words[0]) and span.endswith(words[-1]), (span, seg.text)


# -- formats ------------------------------------------------------------------------------------
def test_plain_transcript_turns_timestamps_marks_and_header(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.INFO, logger="themekit"):
        corpus = load("focus_group.txt")
    assert corpus.ids == [f"focus_group-{i:04d}" for i in range(1, 6)]
    assert corpus.speakers == ["MODERATOR", "Mr. K", "P1", "P2", "Mr. K"]
    first, _, p1, p2, last = corpus.segments
    assert first.start == 5.0 and p2.start == 62.0 and last.start == 100.0
    assert first.meta["header"] == "Kumpulan fokus, sesi ujian | Date: 2024-03-02 | Venue: Zoom"
    # a turn over two lines; "[inaudible]" and "(laughs)" go to meta, not into the text
    assert p1.text.endswith("Lepas keluar serenti, saya tak ada kawan.")
    assert "inaudible" not in p1.text and p1.meta["marks"] == ["inaudible"]
    assert p2.meta["marks"] == ["laughs"] and "(laughs)" not in p2.text
    # a non-turn line after a blank line is joined, with a warning naming file and line
    assert "one more thing" in p2.text and p2.meta["continuation_lines"] == [12]
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert any(
        "focus_group.txt, line 12" in w and "joined to the previous turn" in w for w in warnings
    )
    assert [s.position for s in corpus] == [0, 1, 2, 3, 4]
    assert all(s.session == "focus_group" and s.source.endswith("focus_group.txt") for s in corpus)
    assert_offsets(corpus)


def test_vtt_with_voices_merges_cues_into_turns() -> None:
    corpus = load("codeswitch.vtt")
    assert corpus.speakers == ["Aisyah", "Ravi", "Aisyah"]
    a, r, _ = corpus.segments
    assert (
        a.text
        == "Saya rasa group ni memang tolong saya & family saya. Because nobody judge you here, you know."
    )
    assert (a.start, a.end) == (1.0, 7.0) and (r.start, r.end) == (7.5, 12.5)
    # the 4th cue has no <v> tag but a "Ravi:" prefix: same speaker, same turn
    assert r.text.endswith("Tapi lepas tu semua okay je.") and r.meta["cues"] == 2
    assert a.language == "mixed" and r.language == "mixed"
    assert_offsets(corpus, exact=False)


def test_srt_with_name_prefixes() -> None:
    corpus = load("zoom.srt")
    assert corpus.speakers == ["Moderator", "P1", "P2"]
    assert corpus[1].text == "Sebab kawan-kawan di sini faham saya. Saya tak perlu berpura-pura."
    assert (corpus[1].start, corpus[1].end) == (4.0, 10.0)
    assert corpus.languages == ["ms", "ms", "en"]
    assert_offsets(corpus, exact=False)


def test_docx_paragraphs_and_table_rows(tmp_path: Path) -> None:
    import docx

    doc = docx.Document()
    doc.add_paragraph("Transkrip temu bual kumpulan fokus")
    doc.add_paragraph("")
    doc.add_paragraph("Interviewer: Boleh ceritakan tentang kumpulan ini?")
    doc.add_paragraph("R1: Kumpulan ni macam keluarga kedua saya.")
    doc.add_paragraph("Setiap Sabtu saya datang.")
    table = doc.add_table(rows=3, cols=3)
    for row, cells in zip(
        table.rows,
        [
            ("Time", "Speaker", "Text"),
            ("00:05:01", "R2", "I give talks at schools now."),
            ("00:05:30", "R1", "Betul tu, dia memang rajin."),
        ],
        strict=True,
    ):
        for cell, value in zip(row.cells, cells, strict=True):
            cell.text = value
    path = tmp_path / "interview.docx"
    doc.save(str(path))
    corpus = load(str(path))
    assert corpus.speakers == ["Interviewer", "R1", "R2", "R1"]
    assert corpus[1].text == "Kumpulan ni macam keluarga kedua saya. Setiap Sabtu saya datang."
    assert corpus[2].start == 301.0 and corpus[2].id == "interview-0003"
    assert corpus[0].meta["header"] == "Transkrip temu bual kumpulan fokus"
    assert_offsets(corpus)


def test_cp1252_and_latin1_transcripts_load(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING):
        corpus = load("cp1252.txt")
    assert corpus[0].text == "Apa khabar semua? Café di bawah sudah buka."
    assert "“baik” –" in corpus[1].text and "naïve résumé" in corpus[1].text
    assert any("Windows-1252" in r.getMessage() for r in caplog.records)
    latin = tmp_path / "latin.txt"
    latin.write_bytes("P1: Ça va, déjà vu über alles.\nP2: Olá, São Paulo.\n".encode("latin-1"))
    corpus = load(str(latin))
    assert corpus.texts == ["Ça va, déjà vu über alles.", "Olá, São Paulo."]
    assert_offsets(corpus)


def test_explicit_encoding_is_used_and_bad_encoding_named(tmp_path: Path) -> None:
    path = tmp_path / "t.txt"
    path.write_bytes("P1: Señor.\n".encode("latin-1"))
    assert load(str(path), encoding="latin-1").texts == ["Señor."]
    with pytest.raises(InputError, match=r"t\.txt, line 1: cannot be decoded as utf-8"):
        load(str(path), encoding="utf-8")
    with pytest.raises(ConfigError, match=r"\[corpus\.encoding\]"):
        load(str(path), encoding="klingon")


def test_csv_table_with_aliases_and_times() -> None:
    corpus = load("segments.csv")
    assert corpus.ids == ["r1", "r2", "r3"]  # 'segment_id' column used as the id
    assert corpus.languages == ["ms", "en", "mixed"]  # 'lang' column; r2 detected
    assert (
        corpus[1].meta["language_source"] == "detected"
        and corpus[0].meta["language_source"] == "input"
    )
    assert corpus.codes == ["support", "leader_hope", "leader_hope"]
    assert corpus[1].secondary_code == "support" and corpus[0].secondary_code is None
    assert corpus[0].start == 62.0 and corpus[1].start == 75.5 and corpus[2].start is None
    assert corpus.sessions == ["segments"] * 3 and corpus[0].char_start is None


def test_tsv_jsonl_parquet_tables(tmp_path: Path) -> None:
    import pandas as pd

    tsv = load("segments.tsv")
    assert (
        tsv.ids == ["S1-a", "S1-b"]
        and tsv.languages == ["ms", "en"]
        and tsv.sessions == ["S1", "S1"]
    )
    jsonl = load("segments.jsonl")
    assert jsonl.ids == ["j1", "j2", "j3"] and jsonl.codes == [
        "giving_back",
        "giving_back",
        "leader_hope",
    ]
    frame = pd.DataFrame(
        {
            "body": ["Saya jaga dapur di rumah perlindungan.", "He never gives orders, he asks."],
            "who": ["P1", "P2"],
        }
    )
    frame.to_parquet(tmp_path / "sess.parquet")
    corpus = load("sess.parquet", base=tmp_path, columns={"text": "body", "speaker": "who"})
    assert corpus.ids == ["sess-0001", "sess-0002"]  # no id column: <session>-<row>
    assert corpus.speakers == ["P1", "P2"] and corpus.languages == ["ms", "en"]


def test_folder_glob_and_list_make_one_session_per_file(tmp_path: Path) -> None:
    for name in ("a.txt", "b.txt"):
        (tmp_path / name).write_text(f"P1: Saya dari sesi {name}.\nP2: Okay.\n", encoding="utf-8")
    (tmp_path / "hand_codes.csv").write_text("segment_id,code\na-0001,support\n", encoding="utf-8")
    (tmp_path / "notes.md").write_text("# notes\n", encoding="utf-8")
    (tmp_path / "codebook.yaml").write_text("themes: []\n", encoding="utf-8")
    folder = load(".", base=tmp_path)
    assert folder.ids == ["a-0001", "a-0002", "b-0001", "b-0002"]
    assert load("*.txt", base=tmp_path).ids == folder.ids
    assert load(["b.txt", "a.txt", "b.txt"], base=tmp_path).sessions == ["b", "b", "a", "a"]
    one = load("a.txt", base=tmp_path, session="focus1")
    assert one.ids == ["focus1-0001", "focus1-0002"]
    with pytest.raises(ConfigError, match=r"\[corpus\.session\]"):
        load(".", base=tmp_path, session="focus1")


def test_input_files_lists_transcripts_and_hand_codes() -> None:
    cfg = config_from_dict(
        {"corpus": {"path": ["focus_group.txt", "zoom.srt"], "hand_codes": "segments.csv"}},
        base_dir=DATA,
    )
    assert [p.name for p in input_files(cfg)] == ["focus_group.txt", "zoom.srt", "segments.csv"]


# -- hand codes ---------------------------------------------------------------------------------
def test_hand_codes_attach_by_id_and_override_language(tmp_path: Path) -> None:
    codes = tmp_path / "hand_codes.csv"
    codes.write_text(
        "segment_id,code,secondary_code,language\n"
        "focus_group-0002,support,,mixed\nfocus_group-0003,support,leader_hope,\nfocus_group-0005,other,,ms\n",
        encoding="utf-8",
    )
    corpus = load("focus_group.txt", hand_codes=str(codes))
    assert corpus.codes == [None, "support", "support", None, "other"]
    assert corpus[2].secondary_code == "leader_hope"
    assert corpus[4].language == "ms" and corpus[4].meta["language_source"] == "hand_codes"
    assert corpus[3].language == "en" and corpus[3].meta["language_source"] == "detected"


def test_hand_codes_reach_every_piece_of_a_split_turn(tmp_path: Path) -> None:
    codes = tmp_path / "codes.csv"
    codes.write_text("segment_id,code\nfocus_group-0004,support\n", encoding="utf-8")
    corpus = load(
        "focus_group.txt",
        hand_codes=str(codes),
        sections={"segmentation": {"strategy": "sentences", "max_tokens": 8}},
    )
    pieces = [s for s in corpus if s.meta["turn_id"] == "focus_group-0004"]
    assert [s.id for s in pieces] == [f"focus_group-0004.{k}" for k in range(1, len(pieces) + 1)]
    assert len(pieces) >= 2 and all(s.code == "support" for s in pieces)


def test_hand_codes_that_match_nothing_are_an_error(tmp_path: Path) -> None:
    codes = tmp_path / "codes.csv"
    codes.write_text("segment_id,code\nweek9-0001,support\n", encoding="utf-8")
    with pytest.raises(InputError, match="none of the 1 segment ids"):
        load("focus_group.txt", hand_codes=str(codes))
    codes.write_text("id,theme\nfocus_group-0001,support\n", encoding="utf-8")
    with pytest.raises(InputError, match="needs a 'code' column"):
        load("focus_group.txt", hand_codes=str(codes))


def _demo_ready() -> bool:
    return all((DEMO / f).is_file() for f in ("week1.txt", "week2.txt", "week3.csv")) and any(
        DEMO.glob("hand_codes*.csv")
    )


@pytest.mark.skipif(
    not _demo_ready(),
    reason="the demo corpus (week1-3 + hand_codes*.csv) is not in themekit/data/demo yet",
)
@pytest.mark.parametrize("hand_codes", ["themekit://demo", "themekit://demo/hand_codes*.csv"])
def test_demo_corpus_loads_with_codes_and_languages(hand_codes: str) -> None:
    corpus = load_corpus(
        config_from_dict({"corpus": {"path": "themekit://demo", "hand_codes": hand_codes}})
    )
    assert 300 <= len(corpus) <= 360
    assert set(corpus.sessions) == {"week1", "week2", "week3"}
    assert all(s.code in CODES for s in corpus), "every demo segment has a hand code"
    assert all(s.language in ("ms", "en", "mixed") for s in corpus)
    assert corpus.ids[:2] == ["week1-0001", "week1-0002"]
    assert_offsets(Corpus([s for s in corpus if s.session != "week3"]))
    frame = corpus.to_frame()
    assert Corpus.from_frame(frame).ids == corpus.ids


# -- bad input ----------------------------------------------------------------------------------
def _bad_inputs(tmp: Path) -> dict[str, tuple[dict[str, Any], str]]:
    """name -> (corpus section, regex the error must match)."""
    (tmp / "empty_dir").mkdir()
    (tmp / "empty.txt").write_bytes(b"")
    (tmp / "blank.txt").write_text("  \n\n", encoding="utf-8")
    (tmp / "nospeech.txt").write_text("# only a comment\nA title line\n", encoding="utf-8")
    (tmp / "notes.xyz").write_text("P1: hello\n", encoding="utf-8")
    (tmp / "t.csv").write_text("id,words\n1,hello\n", encoding="utf-8")
    (tmp / "binary.txt").write_bytes(bytes(range(256)) * 4)
    (tmp / "prose.txt").write_text(
        "Title\n\nThis is prose, not a transcript.\nP1: hi\n", encoding="utf-8"
    )
    (tmp / "dup.csv").write_text(
        "id,text\na,one two three\nb,four five\na,six seven\n", encoding="utf-8"
    )
    (tmp / "lang.csv").write_text("id,text,language\na,one two three,zh\n", encoding="utf-8")
    (tmp / "bad.vtt").write_text("not a vtt\n", encoding="utf-8")
    (tmp / "bad.jsonl").write_text('{"text": "ok"}\n{"text": broken\n', encoding="utf-8")
    (tmp / "bad.docx").write_bytes(b"PK\x03\x04 not really a zip")
    (tmp / "x").mkdir()
    (tmp / "y").mkdir()
    (tmp / "x" / "s.txt").write_text("P1: one\n", encoding="utf-8")
    (tmp / "y" / "s.txt").write_text("P1: two\n", encoding="utf-8")
    return {
        "missing file": ({"path": "nope.txt"}, r"nope\.txt: file or folder not found"),
        "empty folder": ({"path": "empty_dir"}, r"empty_dir: the folder holds no transcript files"),
        "empty file": ({"path": "empty.txt"}, r"empty\.txt: the file is empty"),
        "blank file": ({"path": "blank.txt"}, r"blank\.txt: the file is empty"),
        "no speech": ({"path": "nospeech.txt"}, r"nospeech\.txt: contains no speech"),
        "unknown format": ({"path": "notes.xyz"}, r"notes\.xyz: unknown file format '\.xyz'"),
        "missing column": (
            {"path": "t.csv"},
            r"t\.csv: the table has no column 'text' \(corpus\.columns\.text\); its columns are: id, words",
        ),
        "missing mapped column": (
            {"path": "t.csv", "columns": {"text": "words", "speaker": "who"}},
            r"no column 'who' \(corpus\.columns\.speaker\)",
        ),
        "undecodable": (
            {"path": "binary.txt"},
            r"binary\.txt, line 1: is not a text file themekit can decode",
        ),
        "line before first turn": (
            {"path": "prose.txt"},
            r"prose\.txt, line 3: 'This is prose, not a transcript\.' is not a speaker turn",
        ),
        "duplicate ids in a table": (
            {"path": "dup.csv"},
            r"dup\.csv, row 3: duplicate segment id 'a' \(already used in row 1\)",
        ),
        "duplicate ids across files": (
            {"path": ["x/s.txt", "y/s.txt"]},
            r"duplicate segment id 's-0001'",
        ),
        "unknown language": (
            {"path": "lang.csv"},
            r"lang\.csv, row 1: column 'language': unknown language 'zh'",
        ),
        "bad vtt": ({"path": "bad.vtt"}, r"bad\.vtt: is not a valid WebVTT file"),
        "bad jsonl": ({"path": "bad.jsonl"}, r"bad\.jsonl, line 2: not valid JSON"),
        "bad docx": ({"path": "bad.docx"}, r"bad\.docx: is not a Word \.docx file"),
    }


BAD_NAMES = [
    "missing file",
    "empty folder",
    "empty file",
    "blank file",
    "no speech",
    "unknown format",
    "missing column",
    "missing mapped column",
    "undecodable",
    "line before first turn",
    "duplicate ids in a table",
    "duplicate ids across files",
    "unknown language",
    "bad vtt",
    "bad jsonl",
    "bad docx",
]


@pytest.mark.parametrize("name", BAD_NAMES)
def test_bad_input_raises_input_error_naming_file(name: str, tmp_path: Path) -> None:
    section, pattern = _bad_inputs(tmp_path)[name]
    with pytest.raises(InputError, match=pattern):
        load(base=tmp_path, **section)


def _pipeline_ready() -> bool:
    import importlib.util

    mods = (
        "themekit.cli",
        "themekit.pipeline",
        "themekit.describe",
        "themekit.themes",
        "themekit.compare",
    )
    return all(importlib.util.find_spec(m) is not None for m in mods)


@pytest.mark.skipif(
    not _pipeline_ready(),
    reason="the pipeline modules (cli, pipeline, describe, themes, compare) are not all written yet",
)
def test_bad_input_exits_2_from_cli_without_a_run_folder(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from themekit.cli import app

    cases = _bad_inputs(tmp_path)
    runner = CliRunner()
    for name in ("empty file", "line before first turn", "missing column", "undecodable"):
        section, _ = cases[name]
        job = tmp_path / "job.yaml"
        job.write_text(f"corpus:\n  path: {section['path']}\n", encoding="utf-8")
        out = tmp_path / "runs"
        result = runner.invoke(app, ["run", str(job), "--out", str(out)])
        assert result.exit_code == 2, (name, result.output)
        assert not out.exists() or not any(out.iterdir()), name


# -- property: arbitrary text never crashes the reader ------------------------------------------
_names = st.sampled_from(
    ["P1", "Mr. K", "MODERATOR", "Che Mat", "interviewer", "x y z", "[00:01:02] P2"]
)
_lines = st.one_of(
    st.text(max_size=60),
    st.builds(lambda n, t: f"{n}: {t}", _names, st.text(max_size=60)),
    st.sampled_from(["", "# comment", "Date: today", "(laughs)", "[inaudible]", "   indented"]),
)


@settings(
    max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    lines=st.lists(_lines, max_size=12), strategy=st.sampled_from(["turn", "sentences", "window"])
)
def test_arbitrary_transcript_loads_or_raises_user_error(
    lines: list[str], strategy: str, tmp_path: Path
) -> None:
    path = tmp_path / "fuzz.txt"
    path.write_text("\n".join(lines), encoding="utf-8", newline="")
    try:
        corpus = load(
            str(path),
            sections={
                "segmentation": {
                    "strategy": strategy,
                    "max_tokens": 8,
                    "window_tokens": 8,
                    "window_stride": 4,
                }
            },
        )
    except UserError:
        return
    assert len(corpus) >= 1
    assert all(s.text and s.language in ("ms", "en", "mixed", "unknown") for s in corpus)
    src = source_text(path)
    for seg in corpus:  # spans may include skipped '#' lines, so check containment only
        assert seg.char_start is not None and seg.char_end is not None
        assert 0 <= seg.char_start < seg.char_end <= len(src)
        span = normalize_text(src[seg.char_start : seg.char_end]).text
        assert all(word in span for word in seg.text.split())


def test_corpus_round_trips_through_dataframe_and_dataset() -> None:
    corpus = Corpus(load("focus_group.txt").segments + load("segments.csv").segments)
    back = Corpus.from_frame(corpus.to_frame())
    assert back.segments == corpus.segments
    assert isinstance(back[0].char_start, int) and back[-1].char_start is None
    assert back[2].meta["marks"] == ["inaudible"]
    from_ds = Corpus.from_dataset(corpus.to_dataset())
    assert from_ds.segments == corpus.segments and from_ds[0].char_start == corpus[0].char_start


def test_a_table_column_named_twice_is_read_from_its_last_copy(tmp_path: Path) -> None:
    (tmp_path / "t.csv").write_text(
        "id,text,speaker,text \ns1,first copy,P1,second copy\ns2,one,P2,two\n", encoding="utf-8"
    )
    corpus = load("t.csv", base=tmp_path)
    # the header's "text " is stripped to "text"; a row's dict kept the last one, as now
    assert [s.text for s in corpus] == ["second copy", "two"]
    assert [s.speaker for s in corpus] == ["P1", "P2"] and [s.position for s in corpus] == [0, 1]


def test_a_line_too_long_is_named_by_its_number(tmp_path: Path) -> None:
    from themekit.readers.text import MAX_LINE_CHARS, check_line_length

    ok = "short\n" * 3 + "x" * MAX_LINE_CHARS + "\nlast"
    check_line_length(ok, tmp_path / "ok.txt")  # a line of exactly the limit is read
    for lines, number in (
        (["a", "y" * (MAX_LINE_CHARS + 1), "b"], 2),
        (["a", "b", "z" * (MAX_LINE_CHARS + 5)], 3),
    ):
        with pytest.raises(
            InputError,
            match=f"{MAX_LINE_CHARS + 1 if number == 2 else MAX_LINE_CHARS + 5:,} characters",
        ) as err:
            check_line_length("\n".join(lines), tmp_path / "t.txt")
        assert err.value.line == number
