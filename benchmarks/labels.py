"""Name fidelity: does a candidate theme's name say which hand-coded theme it holds?

For each corpus the themes are found as ``themekit run`` finds them (default embedder, default
``ThemeFinder``, the moderator's questions as context where there is a moderator) and
described by :func:`themekit.describe.describe_themes` with the run's embedder for keyphrases.
Each name -- today's two keywords per language (``CandidateTheme.keyword_label``) and the new
keyphrase name (``CandidateTheme.label``) -- is embedded with the same embedder, and the nearest
gold label name (cosine) is looked up. A name is *faithful* when that nearest gold name belongs
to the theme's majority hand code. Printed per corpus: themes, faithful share with the old and
the new names, and the names themselves (JSON lines, then a Markdown table).

Gold label names: the codebook's theme names (``other`` included) for the focus-group corpora
(the bundled demo whole and per session, and every ``benchmarks/corpora/*/job.yaml`` with a
codebook); SIB-200's seven topic names in English and in Malay (a theme points to a topic when
the nearest of the 14 names is one of that topic's two); the NHS staff themes.

Beside the namers, three reference rows that no namer wrote (:func:`reference_rows`): random
candidate phrases of the theme (chance), the majority gold name itself (ceiling), and the gold
name nearest the theme's centre (the codebook match shown beside a name; never a name). The
summary gives per corpus the mean over ``--seeds``, and for the focus groups the mean, the
lowest seed's mean and the worst corpus.

    python benchmarks/labels.py ../shared/benchdata [--seeds 42 7 0] [--only demo sib200]
        [--keep-themes DIR] [--previous FILE] [--out FILE]

Never copies data into the project.
"""

from __future__ import annotations

import argparse
import itertools
import json
import logging
import re
import sys
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import REPO, nhs, sib200

from themekit.config import EmbeddingConfig, load_config
from themekit.context import DEFAULT_CONTEXT_WEIGHT, question_context
from themekit.corpus import Corpus
from themekit.describe import describe_themes
from themekit.embed import build_embedder, default_cache_dir, embed_texts
from themekit.naming import name_stop_words, phrase_analyzer, phrase_embedder, proper_nouns
from themekit.themes import ThemeFinder

log = logging.getLogger("benchmarks.labels")

#: SIB-200's topics and their names in English and Malay.
SIB_NAMES = {
    "science/technology": ["science/technology", "sains/teknologi"],
    "travel": ["travel", "pelancongan"],
    "politics": ["politics", "politik"],
    "sports": ["sports", "sukan"],
    "health": ["health", "kesihatan"],
    "entertainment": ["entertainment", "hiburan"],
    "geography": ["geography", "geografi"],
}

#: A corpus: its segments (context included) and gold code -> names.
Loaded = tuple[Corpus, dict[str, list[str]]]


def _codebook_names(path: Path) -> dict[str, list[str]]:
    from themekit.codebook import load_codebook

    return {t.id: [t.name] for t in load_codebook(path).themes}


def job_corpus(config: Path, session: str | None = None) -> Loaded:
    """A job config's corpus (context segments kept) and its codebook's theme names."""
    from themekit.load import load_corpus

    cfg = load_config(config)
    full = load_corpus(cfg)
    if session is not None:
        full = Corpus([s for s in full if s.session == session])
    if not cfg.codebook.path:
        raise SystemExit(f"{config}: no codebook.path, no gold label names")
    return full, _codebook_names(cfg.resolve_path(cfg.codebook.path))


def corpora(data: Path, nhs_size: int, seed: int) -> dict[str, Callable[[], Loaded]]:
    demo = REPO / "configs" / "demo.yaml"
    sets: dict[str, Callable[[], Loaded]] = {"demo": lambda: job_corpus(demo)}
    for session in ("week1", "week2", "week3"):
        sets[f"demo_{session}"] = lambda s=session: job_corpus(demo, s)  # type: ignore[misc]
    for job in sorted((REPO / "benchmarks" / "corpora").glob("*/job.yaml")):
        sets[job.parent.name] = lambda j=job: job_corpus(j)  # type: ignore[misc]
    sets["sib200"] = lambda: (sib200(data / "sib200")[0], SIB_NAMES)
    sets["nhs"] = lambda: _nhs(data, nhs_size, seed)
    return sets


def _nhs(data: Path, n: int, seed: int) -> Loaded:
    corpus, _ = nhs(data / "nhs_pxtextmining", n, seed)
    return corpus, {c: [c] for c in sorted(set(corpus.codes)) if c}


def _unit(X: np.ndarray) -> np.ndarray:
    return X / np.maximum(np.linalg.norm(X, axis=-1, keepdims=True), 1e-12)


def fidelity(
    names: list[str],
    majority: list[str],
    gold: dict[str, list[str]],
    embed: Callable[[list[str]], np.ndarray],
    *,
    by_parts: bool = True,
    centre: np.ndarray | None = None,
) -> tuple[float, list[str]]:
    """Share of ``names`` whose nearest gold name belongs to the theme's majority code, and
    the code each name points to. ``by_parts``: a name's vector is the mean of the unit vectors
    of its phrases (split at " / " and ", "), so that the punctuation joining them does not
    decide which gold name is nearest; else the name is embedded whole. ``centre``: the mean
    vector of short phrases (:func:`word_centre`), subtracted from each name's vector, while
    the gold names' own mean is subtracted from theirs. e5's cosines all sit near 0.8-0.97, so
    uncentred, what every gold name shares ("The group ...") and what every short phrase
    shares decide much of which gold name is nearest; centred, each side is compared by what
    sets it apart from its own kind. Every namer is scored by the same function and centre."""
    owners = [code for code, ns in gold.items() for _ in ns]
    G = _unit(embed([n for ns in gold.values() for n in ns]))
    if by_parts:
        parts = [[p.strip() for p in re.split(r" / |, ", n) if p.strip()] or [n] for n in names]
        V = _unit(embed([p for ps in parts for p in ps]))
        bounds = np.cumsum([0] + [len(ps) for ps in parts])
        N = _unit(np.vstack([V[a:b].mean(axis=0) for a, b in itertools.pairwise(bounds)]))
    else:
        N = _unit(embed(names))
    if centre is not None:
        G, N = _unit(G - G.mean(axis=0)), _unit(N - centre)
    points = [owners[int(j)] for j in np.argmax(N @ G.T, axis=1)]
    hits = [p == m for p, m in zip(points, majority, strict=True)]
    return (float(np.mean(hits)) if hits else float("nan")), points


#: How many of a corpus's most used words make the short-phrase centre.
CENTRE_WORDS = 300


def word_centre(texts: list[str], embed: Callable[[list[str]], np.ndarray]) -> np.ndarray:
    """The mean unit vector of the corpus's :data:`CENTRE_WORDS` most used content words (no
    function word, particle or filler of :func:`themekit.naming.name_stop_words`): where a
    short phrase of this corpus lies before it says anything in particular. It depends on the
    corpus only, never on a namer's names."""
    stop = name_stop_words()
    counts: Counter[str] = Counter()
    for text in texts:
        counts.update(set(phrase_analyzer(stop, max_ngram=1)(text)))
    words = sorted(counts, key=lambda w: (-counts[w], w))[:CENTRE_WORDS]
    return _unit(embed(words)).mean(axis=0)


#: Random names drawn per theme for the chance row.
RANDOM_DRAWS = 10


def random_names(
    corpus: Corpus, labels: np.ndarray, ids: list[int], draws: int, seed: int
) -> list[list[str]]:
    """``draws`` names per theme, each made as a name is made but of random candidates: a
    random candidate phrase (:func:`themekit.naming.phrase_analyzer`: no function word at an
    edge, no name) of the theme's Malay segments " / " one of its English segments (or two of
    its only language). What a name drawn from the theme's own words scores by chance."""
    rng = np.random.default_rng(seed)
    analyse = phrase_analyzer(name_stop_words(), proper_nouns(corpus.texts))
    out = []
    for t in ids:
        pools = {lang: [] for lang in ("ms", "en")}  # type: dict[str, list[str]]
        for i in np.flatnonzero(labels == t).tolist():
            if corpus[i].language in pools:
                pools[corpus[i].language].extend(analyse(corpus[i].text))
        both = [p for p in pools.values() if p]
        names = []
        for _ in range(draws):
            if len(both) == 2:
                names.append(" / ".join(str(rng.choice(p)) for p in both))
            elif both:
                names.append(", ".join(str(w) for w in rng.choice(both[0], 2)))
            else:
                names.append("(none)")
        out.append(names)
    return out


def codebook_match(
    X: np.ndarray, labels: np.ndarray, ids: list[int], gold: dict[str, list[str]], embed: Callable
) -> list[str]:
    """Per theme, the gold code whose name is nearest the theme's centre (both centred on
    their own means): the codebook match shown beside a name, never counted as one."""
    owners = [code for code, ns in gold.items() for _ in ns]
    G = _unit(embed([n for ns in gold.values() for n in ns]))
    U = _unit(np.asarray(X, dtype=np.float64))
    C = _unit(np.vstack([U[labels == t].mean(axis=0) for t in ids]) - U.mean(axis=0))
    return [owners[int(j)] for j in np.argmax(C @ _unit(G - G.mean(axis=0)).T, axis=1)]


def reference_rows(
    corpus: Corpus,
    X: np.ndarray,
    labels: np.ndarray,
    ids: list[int],
    majority: list[str],
    gold: dict[str, list[str]],
    embed: Callable,
    centre: np.ndarray,
    seed: int,
    draws: int = RANDOM_DRAWS,
) -> dict[str, float]:
    """What the metric gives names that no namer wrote, to read a namer's score against:
    random phrases of the theme (chance), the majority gold name itself (ceiling), and the
    codebook match by the theme's centre (a label-free assignment, not a name)."""
    out: dict[str, float] = {}
    names = random_names(corpus, labels, ids, draws, seed)
    ceiling = [gold[m][0] if m in gold else m for m in majority]
    for key, kw in (("", {}), ("_centred", {"centre": centre})):
        rand = [
            fidelity([d[k] for d in names], majority, gold, embed, **kw)[0]  # type: ignore[arg-type]
            for k in range(draws)
        ]
        out["random" + key] = round(float(np.mean(rand)), 3)
        out["ceiling" + key] = round(fidelity(ceiling, majority, gold, embed, **kw)[0], 3)  # type: ignore[arg-type]
    match = codebook_match(X, labels, ids, gold, embed)
    out["codebook_match"] = round(
        float(np.mean([a == b for a, b in zip(match, majority, strict=True)])), 3
    )
    return out


def run_one(
    name: str,
    load: Callable[[], Loaded],
    seed: int,
    keep: Path | None = None,
    previous: dict[int, str] | None = None,
) -> dict[str, object]:
    full, gold = load()
    corpus = full.analysed()
    embedder = build_embedder(EmbeddingConfig())
    cache = default_cache_dir()
    # the moderator's questions as context, as `themekit run` reads them (the same stage)
    ctx = question_context(
        full,
        lambda t: np.asarray(embed_texts(t, embedder, cache_dir=cache)),
        DEFAULT_CONTEXT_WEIGHT,
    )
    X, X_fit = ctx.answer_vectors, ctx.fitted_vectors
    t0 = time.perf_counter()
    kept = keep / f"{name}-{seed}.npz" if keep else None
    if kept is not None and kept.is_file():  # themes of an earlier run (naming work only)
        with np.load(kept) as z:
            labels, space = z["labels"], z["space"]
    else:
        finder = ThemeFinder(seed=seed).fit(
            X_fit,
            corpus.texts,
            languages=corpus.languages,
            context=ctx,
        )
        labels, space = np.asarray(finder.labels_, dtype=int), np.asarray(finder.embeddings_)
        if kept is not None:
            kept.parent.mkdir(parents=True, exist_ok=True)
            np.savez(kept, labels=labels, space=space)
    t_fit = time.perf_counter() - t0
    t0 = time.perf_counter()
    themes = describe_themes(
        corpus,
        labels,
        space,
        seed=seed,
        phrase_space=X,
        embed_phrases=phrase_embedder(embedder, cache),
    )
    t_describe = time.perf_counter() - t0
    themes = [t for t in themes if t.id != -1]
    codes = np.asarray([c or "" for c in corpus.codes], dtype=object)
    majority = [Counter(codes[labels == t.id].tolist()).most_common(1)[0][0] for t in themes]

    def embed(texts: list[str]) -> np.ndarray:
        return np.asarray(embed_texts(texts, embedder, cache_dir=cache))

    old_names, new_names = [t.keyword_label for t in themes], [t.label for t in themes]
    old, old_points = fidelity(old_names, majority, gold, embed)
    new, new_points = fidelity(new_names, majority, gold, embed)
    old_whole, _ = fidelity(old_names, majority, gold, embed, by_parts=False)
    new_whole, _ = fidelity(new_names, majority, gold, embed, by_parts=False)
    centre = word_centre(corpus.texts, embed)
    scores: dict[str, float] = {}
    if previous is not None:  # names an earlier version gave the same themes (--previous)
        if {t.id for t in themes} != set(previous):
            raise SystemExit(f"{name}: --previous holds other themes; use the same --keep-themes")
        prev_names = [previous[t.id] for t in themes]
        for key, kw in (("prev", {}), ("prev_centred", {"centre": centre})):
            scores[key] = round(fidelity(prev_names, majority, gold, embed, **kw)[0], 3)
    old_c, old_points_c = fidelity(old_names, majority, gold, embed, centre=centre)
    new_c, new_points_c = fidelity(new_names, majority, gold, embed, centre=centre)
    ids = [t.id for t in themes]
    scores.update(reference_rows(corpus, X, labels, ids, majority, gold, embed, centre, seed))
    return {
        "corpus": name,
        "seed": seed,
        "n_segments": len(corpus),
        "n_themes": len(themes),
        "old": round(old, 3),
        "new": round(new, 3),
        "old_whole": round(old_whole, 3),
        "new_whole": round(new_whole, 3),
        "old_centred": round(old_c, 3),
        "new_centred": round(new_c, 3),
        **scores,
        "fit_seconds": round(t_fit, 1),
        "describe_seconds": round(t_describe, 1),
        "themes": [
            {
                "id": t.id,
                "size": t.size,
                "majority": m,
                "old_name": t.keyword_label,
                "old_points_to": op,
                "new_name": t.label,
                "new_points_to": np_,
                "old_points_to_centred": opc,
                "new_points_to_centred": npc,
            }
            for t, m, op, np_, opc, npc in zip(
                themes, majority, old_points, new_points, old_points_c, new_points_c, strict=True
            )
        ],
    }


def set_naming(assignments: list[str]) -> None:
    """Set constants of :mod:`themekit.naming` or :mod:`themekit.theme_names` (``NAME=VALUE``,
    the value's type kept)."""
    import themekit.naming as naming
    import themekit.theme_names as theme_names

    for item in assignments:
        key, _, value = item.partition("=")
        module = theme_names if hasattr(theme_names, key) else naming
        old = getattr(module, key)  # AttributeError names a constant that does not exist
        setattr(module, key, type(old)(value == "True" if isinstance(old, bool) else value))


#: The columns of the summary table, and their heads.
COLUMNS = {
    "old": "keyword names",
    "prev": "previous names",
    "new": "new names",
    "random": "random phrases (chance)",
    "ceiling": "majority gold name (ceiling)",
    "old_centred": "keyword, centred",
    "prev_centred": "previous, centred",
    "new_centred": "new, centred",
    "random_centred": "random, centred",
    "ceiling_centred": "ceiling, centred",
    "codebook_match": "codebook match by centre (not a name)",
}


def summary(rows: list[dict[str, object]]) -> str:
    """A Markdown table: per corpus the mean over seeds; for the focus-group corpora the mean
    over corpora (mean over seeds, and the lowest seed's) and the worst corpus."""
    keys = [k for k in COLUMNS if all(k in r for r in rows)]
    seeds = sorted({int(r["seed"]) for r in rows})  # type: ignore[call-overload]
    names = list(dict.fromkeys(str(r["corpus"]) for r in rows))

    def val(c: str, k: str, seed: int | None = None) -> float:
        v = [float(r[k]) for r in rows if r["corpus"] == c and seed in (None, r["seed"])]  # type: ignore[arg-type]
        return float(np.mean(v)) if v else float("nan")

    lines = [
        f"seeds {', '.join(map(str, seeds))}; each cell the mean over seeds",
        "| corpus | themes | " + " | ".join(COLUMNS[k] for k in keys) + " |",
        "|---" * (2 + len(keys)) + "|",
    ]
    for c in names:
        n = "/".join(str(r["n_themes"]) for r in rows if r["corpus"] == c)
        lines.append(f"| {c} | {n} | " + " | ".join(f"{val(c, k):.2f}" for k in keys) + " |")
    focus = [c for c in names if c not in ("sib200", "nhs")]
    if focus:
        mean = [np.mean([val(c, k) for c in focus]) for k in keys]
        low = [min(np.mean([val(c, k, s) for c in focus]) for s in seeds) for k in keys]
        worst = [min(val(c, k) for c in focus) for k in keys]
        for head, vals in (
            (f"**focus-group mean ({len(focus)})**", mean),
            ("focus-group mean, lowest seed", low),
            ("focus-group worst corpus", worst),
        ):
            lines.append(f"| {head} | | " + " | ".join(f"{v:.2f}" for v in vals) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("data", type=Path, help="folder holding sib200/ and nhs_pxtextmining/")
    ap.add_argument("--seed", "--seeds", dest="seeds", type=int, nargs="+", default=[42])
    ap.add_argument("--nhs-size", type=int, default=1500)
    ap.add_argument("--only", nargs="*", help="corpus names to run (demo, demo_week1, sib200 ...)")
    ap.add_argument("--out", type=Path, help="also write the JSON lines to this file")
    ap.add_argument(
        "--keep-themes",
        type=Path,
        help="folder to keep each corpus's themes in and reuse them from (to work on names only)",
    )
    ap.add_argument(
        "--naming",
        nargs="*",
        default=[],
        metavar="NAME=VALUE",
        help="set a constant of themekit.naming or theme_names for this run (LENGTH_BONUS=0.03)",
    )
    ap.add_argument(
        "--previous",
        type=Path,
        help="JSON lines of an earlier run on the same --keep-themes and seeds: its new names "
        "are scored too (columns prev, prev_centred)",
    )
    args = ap.parse_args(argv)
    set_naming(args.naming)
    previous: dict[tuple[str, int], dict[int, str]] = {}
    if args.previous:
        for line in args.previous.read_text().splitlines():
            if line.startswith("{"):
                r = json.loads(line)
                key = (r["corpus"], int(r.get("seed", 42)))
                previous[key] = {t["id"]: t["new_name"] for t in r["themes"]}
    logging.basicConfig(
        level=logging.WARNING, format="%(asctime)s %(name)s %(message)s", stream=sys.stderr
    )
    rows = []
    for seed in args.seeds:
        for name, load in corpora(args.data, args.nhs_size, seed).items():
            if args.only and name not in args.only:
                continue
            prev = previous.get((name, seed)) if args.previous else None
            if args.previous and prev is None:
                raise SystemExit(f"{name}, seed {seed}: not in {args.previous}")
            row = run_one(name, load, seed, args.keep_themes, prev)
            rows.append(row)
            print(json.dumps(row, ensure_ascii=False), flush=True)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows))
    print("\n" + summary(rows))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
