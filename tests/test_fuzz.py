"""Property-based tests: every reader, the config loader and the QDPX reader on random bytes
and structured garbage raise nothing but :class:`UserError`, and write nothing.

Bounded (a few seconds each) so that they run in the default suite.
"""

from __future__ import annotations

import io
import json
import tempfile
import zipfile
from collections.abc import Callable
from pathlib import Path

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from themekit.config import Columns, load_config
from themekit.errors import UserError
from themekit.qda import read_qdc, read_qdpx
from themekit.readers import read_docx, read_srt, read_table, read_text, read_transcript, read_vtt

FUZZ = settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

# pieces that make the readers' grammar: speakers, timestamps, arrows, tags, separators
PIECES = st.sampled_from(
    [
        "Aina: ",
        "Moderator: ",
        "[00:01:02] ",
        "00:00:01.000 --> 00:00:02.000",
        "00:00:03,000 --> 00:00:01,000",
        "-->",
        "WEBVTT",
        "NOTE x",
        "1",
        "\n",
        "\n\n",
        "\r\n",
        "<v Badrul>",
        "</v>",
        "&amp;",
        "# comment",
        "Title: x",
        ",",
        "\t",
        '"',
        "{",
        "}",
        "id,text,speaker\n",
        '{"id": "a", "text": "b"}',
        "ya lah",
        "é",
        "\ufeff",
        "\x00",
        "\xff",
    ]
)
GARBAGE_TEXT = st.lists(st.one_of(PIECES, st.text(max_size=12)), max_size=40).map("".join)
RANDOM = st.one_of(
    st.binary(max_size=600),
    GARBAGE_TEXT.map(lambda t: t.encode("utf-8", "surrogatepass")),
    GARBAGE_TEXT.map(lambda t: t.encode("cp1252", "replace")),
)


def _only_user_errors(name: str, data: bytes, read: Callable[[Path], object]) -> None:
    """Write ``data`` to a file called ``name`` in a fresh folder and read it: anything but a
    UserError fails the test, and the folder must hold only that file afterwards."""
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / name
        path.write_bytes(data)
        try:
            read(path)
        except UserError:
            pass
        assert sorted(p.name for p in Path(folder).iterdir()) == [name]


@FUZZ
@given(RANDOM)
def test_text_and_transcript(data: bytes) -> None:
    _only_user_errors("t.txt", data, read_text)
    _only_user_errors("t.txt", data, lambda p: read_transcript(p, "s"))


@FUZZ
@given(RANDOM, st.booleans())
def test_subtitles(data: bytes, lenient: bool) -> None:
    _only_user_errors("s.vtt", b"WEBVTT\n\n" + data, lambda p: read_vtt(p, "s", lenient=lenient))
    _only_user_errors("s.srt", data, lambda p: read_srt(p, "s", lenient=lenient))


@FUZZ
@given(RANDOM, st.sampled_from(["csv", "tsv", "jsonl"]))
def test_tables(data: bytes, fmt: str) -> None:
    _only_user_errors(f"t.{fmt}", data, lambda p: read_table(p, fmt, "s", Columns(), "auto"))


@FUZZ
@given(st.binary(max_size=400))
def test_docx_and_parquet_random_bytes(data: bytes) -> None:
    _only_user_errors("t.docx", data, lambda p: read_docx(p, "s"))
    _only_user_errors("t.parquet", data, lambda p: read_table(p, "parquet", "s", Columns()))


def _zip(members: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name, content in members.items():
            zf.writestr(name, content)
    return buf.getvalue()


XML_PIECES = st.sampled_from(
    [
        '<Project xmlns="urn:QDA-XML:project:1.0" name="p">',
        "</Project>",
        "<CodeBook><Codes>",
        '<Code guid="g1" name="a" isCodable="true">',
        "</Code>",
        "</Codes></CodeBook>",
        "<Sources>",
        '<TextSource guid="s1" name="t" plainTextPath="internal://a.txt">',
        '<PlainTextSelection guid="x" startPosition="0" endPosition="5">',
        '<Coding guid="c"><CodeRef targetGUID="g1"/></Coding>',
        "</PlainTextSelection></TextSource></Sources>",
        '<!DOCTYPE x [<!ENTITY e "lol">]>',
        "&e;",
        "<",
        ">",
    ]
)
QDE = st.lists(st.one_of(XML_PIECES, st.text(max_size=8)), max_size=25).map("".join)


@FUZZ
@given(
    st.one_of(
        st.binary(max_size=400),
        st.builds(
            lambda qde, src, extra: _zip(
                {"project.qde": qde.encode("utf-8", "surrogatepass"), "sources/a.txt": src, **extra}
            ),
            QDE,
            st.binary(max_size=60),
            st.dictionaries(
                # zipfile cuts a member name at NUL, and an empty name is not a member
                st.text(min_size=1, max_size=10).filter(lambda s: "\x00" not in s),
                st.binary(max_size=20),
                max_size=3,
            ),
        ),
    )
)
def test_qdpx_reader(data: bytes) -> None:
    _only_user_errors("p.qdpx", data, read_qdpx)
    _only_user_errors("c.qdc", data, read_qdc)


YAML_VALUES = st.recursive(
    st.one_of(
        st.none(), st.booleans(), st.integers(), st.floats(allow_nan=True), st.text(max_size=10)
    ),
    lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=20,
)
SECTIONS = st.sampled_from(
    ["seed", "corpus", "segmentation", "embedding", "themes", "codebook", "evaluation", "output"]
)
KEYS = st.sampled_from(
    ["path", "name", "n_themes", "mode", "backend", "overwrite", "dir", "strategy", "columns"]
)


@FUZZ
@given(
    st.one_of(
        st.binary(max_size=300),
        GARBAGE_TEXT.map(lambda t: t.encode("utf-8", "surrogatepass")),
        st.dictionaries(
            SECTIONS, st.one_of(YAML_VALUES, st.dictionaries(KEYS, YAML_VALUES, max_size=4))
        ).map(lambda d: yaml.safe_dump(d).encode()),
        st.dictionaries(SECTIONS, YAML_VALUES).map(lambda d: json.dumps(d).encode()),
    ),
    st.lists(st.text(max_size=20), max_size=2),
)
def test_config_loader(data: bytes, overrides: list[str]) -> None:
    _only_user_errors("job.yaml", data, lambda p: load_config(p, overrides))
