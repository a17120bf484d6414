"""REFI-QDA interchange: round trips, schema validity, bad projects, hand-made projects."""

from __future__ import annotations

import shutil
import uuid
import zipfile
from pathlib import Path
from xml.etree import ElementTree as ET

import pandas as pd
import pytest

from themekit import qda
from themekit.codebook import load_codebook
from themekit.compare import compare
from themekit.config import load_config
from themekit.errors import InputError
from themekit.load import load_corpus
from themekit.readers import source_text

from .conftest import DEMO, DEMO_CONFIG
from .conftest import FAST_DEMO as FAST

NS = qda.NS_PROJECT


@pytest.fixture(scope="module")
def corpus():
    # every turn, the moderator's included: a coder codes them all (the demo codes them `other`)
    return load_corpus(load_config(DEMO_CONFIG, ["segmentation.moderator=keep"])).analysed()


@pytest.fixture(scope="module")
def codebook():
    return load_codebook(DEMO / "codebook.yaml")


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory: pytest.TempPathFactory):
    """The demo run, written with its .qdpx (skipped while the pipeline's stages are missing)."""
    pytest.importorskip("themekit.describe", reason="the describe stage has not landed yet")
    pytest.importorskip("themekit.themes", reason="the theme stage has not landed yet")
    import themekit

    out = tmp_path_factory.mktemp("runs")
    return themekit.run(
        DEMO_CONFIG,
        overrides=[*FAST, "output.qdpx=true"],
        out_dir=out,
    )


# ------------------------------------------------------------------------------ round trip
def _selections_by_name(project: qda.QdaProject) -> dict[str, tuple[str, int, int, list[str]]]:
    return {
        s.name: (
            project.source(s.source).name,
            s.start,
            s.end,
            [project.code(c).name for c in s.codes],
        )
        for s in project.selections
    }


def test_project_round_trip_keeps_segments_codes_and_positions(
    corpus, codebook, tmp_path: Path
) -> None:
    labels = [i % 4 - 1 for i in range(len(corpus))]  # a fixed theme per segment, outliers included
    names = {0: "kumpulan & keluarga", 1: "giving <back>", 2: "Abang Man"}
    cb_theme = [s.code for s in corpus]
    project, _ = qda.build_project(
        list(corpus), labels, names, codebook_theme=cb_theme, codebook=codebook
    )
    path = qda.write_qdpx(project, tmp_path / "run.qdpx")

    assert qda.validate_qdpx(path) == []
    with zipfile.ZipFile(path) as zf:
        members = sorted(zf.namelist())
    assert members[0] == "project.qde" and all(
        m.startswith("sources/") and m.endswith(".txt") for m in members[1:]
    )

    back = qda.read_qdpx(path)
    assert sorted(s.name for s in back.sources) == ["week1.txt", "week2.txt", "week3.txt"]
    sel = _selections_by_name(back)
    assert set(sel) == set(corpus.ids)
    texts = {s.name: s.text for s in back.sources}
    for i, seg in enumerate(corpus):
        source, start, end, codes = sel[seg.id]
        if seg.char_start is not None:  # a transcript: the exact span in the file's text
            assert (source, start, end) == (Path(seg.source).name, seg.char_start, seg.char_end)
            assert texts[source] == source_text(seg.source)
        else:  # a table row: its text in the built session source
            assert texts[source][start:end] == seg.text
        theme = "Outliers" if labels[i] < 0 else f"T{labels[i]}: {names[labels[i]]}"
        assert codes == [theme, seg.code]
    assert back.code_path(back.selections[0].codes[1])[0] == qda.CODEBOOK_FOLDER

    # imported as codes of segments: the candidate themes come back for every segment
    df = qda.read_qdpx_codes(path, list(corpus), folder=qda.CANDIDATE_FOLDER)
    assert df["segment_id"].tolist() == corpus.ids
    expected = ["Outliers" if t < 0 else f"T{t}: {names[t]}" for t in labels]
    assert df["code"].tolist() == expected
    # ... and the codebook coding, mapped to codebook ids
    df_cb = qda.read_qdpx_codes(path, list(corpus), folder=qda.CODEBOOK_FOLDER, codebook=codebook)
    assert df_cb["code"].tolist() == cb_theme


def test_export_of_a_run_folder_matches_the_run(demo_run, tmp_path: Path) -> None:
    run_dir = demo_run.path
    assert (run_dir / "project.qdpx").is_file()
    assert qda.validate_qdpx(run_dir / "project.qdpx") == []
    again = qda.export_run_qdpx(run_dir, tmp_path / "again.qdpx")
    assert qda.validate_qdpx(again) == []
    a = _selections_by_name(qda.read_qdpx(run_dir / "project.qdpx"))
    b = _selections_by_name(qda.read_qdpx(again))
    assert a == b
    assert set(a) == set(demo_run.corpus.ids)
    labels = {t.id: t.label for t in demo_run.themes}
    for seg, tid in zip(demo_run.corpus, demo_run.labels, strict=True):
        assert a[seg.id][3][0] == ("Outliers" if tid < 0 else f"T{int(tid)}: {labels[int(tid)]}")
        if seg.char_start is not None:
            assert a[seg.id][1:3] == (seg.char_start, seg.char_end)


def test_codebook_round_trip_through_qdc(codebook, tmp_path: Path) -> None:
    path = qda.write_qdc(codebook, tmp_path / "codebook.qdc")
    assert qda.validate_xml(path.read_bytes(), "codebook") == []
    back = load_codebook(path)  # load_codebook hands .qdc files to themekit.qda
    assert back.themes == codebook.themes
    assert back.ids == ["support", "giving_back", "leader_hope", "other"]


def test_qdc_and_qdpx_codebooks_keep_the_other_id(codebook, corpus, tmp_path: Path) -> None:
    """codebook.other_id reaches REFI-QDA codebooks as it reaches YAML ones (it was dropped)."""
    qdc = qda.write_qdc(codebook, tmp_path / "codebook.qdc")
    segments = list(corpus)[:4]
    project, _ = qda.build_project(
        segments, [0] * 4, {0: "x"}, codebook_theme=["support"] * 4, codebook=codebook
    )
    qdpx = qda.write_qdpx(project, tmp_path / "project.qdpx")
    yaml_book = load_codebook(DEMO / "codebook.yaml", other_id="leader_hope")
    for path in (qdc, qdpx):
        assert load_codebook(path).other_id == "other"
        book = load_codebook(path, other_id="leader_hope")
        assert book.other_id == "leader_hope" == yaml_book.other_id
        assert "leader_hope" not in book.theme_ids and "other" in book.theme_ids
        assert qda.read_qdc(path, other_id="leader_hope").other_id == "leader_hope"
    assert load_codebook(qdc, other_id="leader_hope").theme_ids == yaml_book.theme_ids


def test_codebook_from_another_tool(tmp_path: Path) -> None:
    xml = f"""<?xml version="1.0" encoding="utf-8"?>
<CodeBook xmlns="{qda.NS_CODEBOOK}" origin="NVivo 14"><Codes>
  <Code guid="{{5215cc69-b628-4e02-afb9-9beeaee55808}}" name="Topics" isCodable="false">
    <Code guid="d7aa29da-519b-4946-9b90-253b6db8fd0a" name="Peer support" isCodable="true" color="#ffff00">
      <Description>Help from others in the group</Description></Code>
    <Code guid="0dcef2f5-e55c-49da-8c33-9b0803c7aeb4" name="Giving back" isCodable="true"/>
  </Code></Codes></CodeBook>"""
    path = tmp_path / "nvivo.qdc"
    path.write_text(xml, encoding="utf-8")
    assert qda.validate_xml(xml.encode(), "codebook") == []
    cb = qda.read_qdc(path)
    assert cb.ids == ["Peer_support", "Giving_back"]
    assert cb.get("Peer_support").name == "Peer support"
    assert cb.get("Peer_support").definition == {"any": "Help from others in the group"}


# ------------------------------------------------------------------------------ bad input
def _project_xml(*, sources: str, codes: str = "") -> str:
    codes = (
        codes
        or '<Code guid="11111111-1111-1111-1111-111111111111" name="support" isCodable="true"/>'
    )
    return (
        f'<?xml version="1.0" encoding="utf-8"?><Project xmlns="{NS}" name="p">'
        f"<CodeBook><Codes>{codes}</Codes></CodeBook><Sources>{sources}</Sources></Project>"
    )


def _text_source(
    name: str, path: str, start: int, end: int, code: str = "11111111-1111-1111-1111-111111111111"
) -> str:
    return (
        f'<TextSource guid="{uuid.uuid4()}" name="{name}" plainTextPath="{path}">'
        f'<PlainTextSelection guid="{uuid.uuid4()}" startPosition="{start}" endPosition="{end}">'
        f'<Coding guid="{uuid.uuid4()}"><CodeRef targetGUID="{code}"/></Coding>'
        "</PlainTextSelection></TextSource>"
    )


def _zip(path: Path, members: dict[str, str]) -> Path:
    with zipfile.ZipFile(path, "w") as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return path


def test_not_a_zip(tmp_path: Path) -> None:
    path = tmp_path / "fake.qdpx"
    path.write_text("<Project/>", encoding="utf-8")
    with pytest.raises(InputError, match="not a zip archive") as err:
        qda.read_qdpx_codes(path)
    assert "fake.qdpx" in str(err.value)


def test_no_project_file(tmp_path: Path) -> None:
    path = _zip(tmp_path / "p.qdpx", {"sources/a.txt": "A: hello"})
    with pytest.raises(InputError, match=r"no project\.qde"):
        qda.read_qdpx(path)


def test_source_the_archive_does_not_contain(tmp_path: Path) -> None:
    good = _text_source("week1.txt", "internal://a.txt", 0, 5)
    bad = _text_source("week2.txt", "internal://missing.txt", 0, 5)
    path = _zip(
        tmp_path / "p.qdpx",
        {"project.qde": _project_xml(sources=good + bad), "sources/a.txt": "A: hello\n"},
    )
    with pytest.raises(InputError, match=r"'week2\.txt' points at 'internal://missing\.txt'"):
        qda.read_qdpx_codes(path)  # the good source is not imported alone


def test_coding_outside_its_source(tmp_path: Path) -> None:
    src = _text_source("week1.txt", "internal://a.txt", 3, 400)
    path = _zip(
        tmp_path / "p.qdpx",
        {"project.qde": _project_xml(sources=src), "sources/a.txt": "A: hello\n"},
    )
    with pytest.raises(
        InputError, match=r"coding of 'support' in source 'week1\.txt' at 3–400 falls outside"
    ):
        qda.read_qdpx(path)


def test_coding_of_an_unknown_code(tmp_path: Path) -> None:
    src = _text_source(
        "week1.txt", "internal://a.txt", 0, 5, code="22222222-2222-2222-2222-222222222222"
    )
    path = _zip(
        tmp_path / "p.qdpx",
        {"project.qde": _project_xml(sources=src), "sources/a.txt": "A: hello\n"},
    )
    with pytest.raises(InputError, match="22222222-2222-2222-2222-222222222222"):
        qda.read_qdpx(path)


def test_broken_xml_names_the_line(tmp_path: Path) -> None:
    path = _zip(
        tmp_path / "p.qdpx",
        {"project.qde": '<?xml version="1.0"?>\n<Project name="p">\n<Sources>\n</Project>'},
    )
    with pytest.raises(InputError, match="not well-formed") as err:
        qda.read_qdpx(path)
    assert err.value.line == 4


# ------------------------------------------------------------------ a hand-made project
def _hand_made_qdpx(corpus, codes: pd.DataFrame, path: Path) -> Path:
    """What a coder's export looks like: sources named without extension in ``Sources/``, CRLF
    line ends, braced lower-case GUIDs, code names = hand-code ids, and each selection taking
    the whole line, speaker name included; the secondary code as a second coding."""
    by_id = codes.set_index("segment_id")
    texts: dict[str, str] = {}
    spans: dict[str, list[tuple[int, int, str, str]]] = {}
    for s in corpus:
        if s.char_start is not None:
            text = texts.setdefault(s.session, source_text(s.source))
            start, end = text.rfind("\n", 0, s.char_start) + 1, s.char_end
        else:  # the table session: the coder's document is a plain transcript of it
            text = texts.get(s.session, "")
            start = len(text)
            text += f"{s.speaker}: {s.text}\n"
            texts[s.session] = text
            end = len(text) - 1
        row = by_id.loc[s.id]
        spans.setdefault(s.session, []).append((start, end, row["code"], row["secondary_code"]))
    code_ids = sorted(set(codes["code"]) | {c for c in codes["secondary_code"] if c})
    guid = {c: "{" + str(uuid.uuid4()) + "}" for c in code_ids}
    members: dict[str, str] = {}
    src_xml = []
    for session, text in texts.items():
        file_guid = str(uuid.uuid4()).upper()
        crlf = text.replace("\n", "\r\n")
        members[f"Sources/{file_guid}.TXT"] = crlf
        sels = []
        for start, end, code, second in spans[session]:
            # positions count the CRLF pairs, as in the tool's file
            s2 = start + text.count("\n", 0, start)
            e2 = end + text.count("\n", 0, end)
            codings = "".join(
                f'<Coding guid="{uuid.uuid4()}"><CodeRef targetGUID="{guid[c]}"/></Coding>'
                for c in (code, second)
                if c
            )
            sels.append(
                f'<PlainTextSelection guid="{uuid.uuid4()}" startPosition="{s2}" endPosition="{e2}">{codings}'
                "</PlainTextSelection>"
            )
        src_xml.append(
            f'<TextSource guid="{uuid.uuid4()}" name="{session}" plainTextPath="internal://{file_guid}.txt">'
            + "".join(sels)
            + "</TextSource>"
        )
    code_xml = "".join(f'<Code guid="{guid[c]}" name="{c}" isCodable="true"/>' for c in code_ids)
    folder = f'<Code guid="{{{uuid.uuid4()}}}" name="Themes" isCodable="false">{code_xml}</Code>'
    members["Project.qde"] = _project_xml(sources="".join(src_xml), codes=folder)
    return _zip(path, members)


def _csv_codes() -> pd.DataFrame:
    return pd.read_csv(DEMO / "hand_codes.csv", dtype=str, keep_default_na=False)[
        ["segment_id", "code", "secondary_code"]
    ]


def test_hand_made_project_gives_the_csv_hand_codes_and_scores(corpus, tmp_path: Path) -> None:
    csv = _csv_codes()
    path = _hand_made_qdpx(corpus, csv, tmp_path / "coder.qdpx")
    assert qda.validate_qdpx(path) == []
    got = qda.read_qdpx_codes(path)  # no run at hand: sources are read as speaker turns
    merged = csv.merge(got, on="segment_id", how="left", suffixes=("_csv", "_qdpx"))
    assert len(got) == len(csv) == len(corpus)
    assert (merged["code_csv"] == merged["code_qdpx"]).all()
    assert (merged["secondary_code_csv"] == merged["secondary_code_qdpx"]).all()
    with_segments = qda.read_qdpx_codes(path, list(corpus))  # the run's segments at hand
    pd.testing.assert_frame_equal(with_segments.reset_index(drop=True), got.reset_index(drop=True))

    # the same scores for one fixed machine coding (the speaker's first letter as a "theme")
    order = {sid: i for i, sid in enumerate(corpus.ids)}
    labels = [ord(s.speaker[0]) % 5 for s in corpus]

    def scores(df: pd.DataFrame) -> dict:
        df = df.sort_values("segment_id", key=lambda c: c.map(order))
        return compare(labels, df["code"].tolist(), secondary_codes=[c or None for c in df["secondary_code"]],
                       bootstrap=50, seed=3).to_dict()  # fmt: skip

    assert scores(got) == scores(csv)


def test_hand_made_project_evaluates_a_run_like_the_csv(demo_run, corpus, tmp_path: Path) -> None:
    from themekit.evaluate import evaluate_run

    run_dir = tmp_path / "run"
    shutil.copytree(demo_run.path, run_dir)
    qdpx = _hand_made_qdpx(corpus, _csv_codes(), tmp_path / "coder.qdpx")
    a = evaluate_run(run_dir, DEMO / "hand_codes.csv", name="csv")
    b = evaluate_run(run_dir, qdpx, name="qdpx")
    sa = pd.read_json(a / "scores.json", typ="series").drop("hand_codes_file")
    sb = pd.read_json(b / "scores.json", typ="series").drop("hand_codes_file")
    assert sa.to_dict() == sb.to_dict()


def test_written_project_is_plain_utf8_xml(corpus, tmp_path: Path) -> None:
    project, _ = qda.build_project(list(corpus)[:5], [0] * 5, {0: "ünïcödé"})
    path = qda.write_qdpx(project, tmp_path / "p.qdpx")
    with zipfile.ZipFile(path) as zf:
        root = ET.fromstring(zf.read("project.qde"))
    assert root.tag == f"{{{NS}}}Project"
    names = [c.get("name") for c in root.iter(f"{{{NS}}}Code")]
    assert "T0: ünïcödé" in names
