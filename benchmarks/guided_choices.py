"""Guided coding's choices, measured on every development-suite corpus with a codebook.

    python benchmarks/guided_choices.py ../shared/benchdata [--absent] [--bootstrap 1000]
        [--set embedding.language_neutral=false]

Runs ``themekit.run`` in guided mode (defaults, seed 42, nothing written) on each corpus of
``benchmarks/suite.py`` that has a codebook, records the inputs of its coding step (the
language-neutralised segment and codebook vectors, the question of each answer), and recodes
them with each variant below: how each theme's similarities are scaled before self-training
(``themes.guided_scale``), self-training on/off and its share, question pooling, an offset on
``other`` (a margin between the best theme and ``other``), and which codebook texts a theme is
scored against. Prints Cohen's κ per corpus, the mean over the corpora (the demo whole, not its
sessions), and the paired bootstrap interval of each variant's κ minus the default's.

``--absent`` drops, in turn, every segment hand-coded with one theme (the codebook then holds a
theme the corpus lacks) and prints the mean κ of each variant over those subsets. About 4 minutes
on 2 cores with the suite's embeddings cached, nearly all of it the bootstrap.
"""

from __future__ import annotations

import argparse
import logging
import sys
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

#: variant -> keyword arguments of :func:`code`
VARIANTS: dict[str, dict[str, Any]] = {
    "default (spread)": {},
    "scale none (before)": {"scale": "none"},
    "scale z (centred)": {"scale": "z"},
    "scale by codebook examples": {"scale": "examples"},
    "no self-training": {"self_train": False},
    "self-train share 0.3": {"share": 0.3},
    "self-train share 0.7": {"share": 0.7},
    "pooling off": {"pool": 0.0},
    "pooling 0.5 always": {"pool": 0.5},
    "other -0.1": {"other": -0.1},
    "other -0.05": {"other": -0.05},
    "other +0.05": {"other": 0.05},
    "other +0.1": {"other": 0.1},
    "texts: definitions + examples": {"kinds": ("def", "ex")},
    "texts: no inclusion notes": {"kinds": ("name", "def", "kw", "ex")},
    "texts: examples only": {"kinds": ("ex",)},
}


def _kinds(codebook: Any) -> list[str]:
    """The kind of each text of ``codebook.descriptions()[0]``, in its order."""
    out: list[str] = []
    for t in codebook.themes:
        out += ["name"] + ["def"] * len([d for d in t.definition.values() if d.strip()])
        out += ["inc"] * len([n for n in t.include if n.strip()])
        out += ["kw"] * len([w for w in t.keywords.values() if w]) + ["ex"] * len(t.examples)
    return out


def codebook_runs(
    data: Path, common: list[str] | None = None, before: Callable[[], None] | None = None
) -> Iterator[tuple[str, Any]]:
    """``(name, result)`` of one guided run (seed 42, nothing written) of each development-suite
    corpus with a codebook; ``before`` is called before each run (to reset what a hook records)."""
    import suite

    import themekit

    with tempfile.TemporaryDirectory(prefix="themekit-guided-") as tmp:
        for entry in suite.entries(data, quick=True):
            corpus_job = HERE / "corpora" / entry.name / "job.yaml"
            if not (entry.name.startswith("demo") or corpus_job.is_file()):
                continue  # the table sets have no codebook
            if before is not None:
                before()
            result = themekit.run(
                entry.job(Path(tmp)),
                overrides=[*entry.overrides, "seed=42", "themes.mode=guided", *(common or [])],
                write=False,
            )
            yield entry.name, result


def capture(data: Path, common: list[str] | None = None) -> dict[str, dict[str, Any]]:
    """Each codebook corpus's coding inputs and hand codes (one guided run each)."""
    from themekit.themes import finder

    seen: dict[str, Any] = {}
    original = finder.ThemeFinder._code

    def recording(self: Any, Y: Any, hand_codes: Any, given: Any, questions: Any) -> Any:
        seen.update(Y=Y, C=self._C, questions=questions, codebook=self._codebook)
        seen["centred"] = self._remover is not None  # the language means were removed
        return original(self, Y, hand_codes, given, questions)

    out: dict[str, dict[str, Any]] = {}
    finder.ThemeFinder._code = recording  # type: ignore[method-assign]
    try:
        for name, result in codebook_runs(data, common, before=seen.clear):
            if result.codebook is None or "Y" not in seen:
                continue
            cb = seen["codebook"]
            out[name] = {
                **seen,
                "owners": list(cb.descriptions()[1]),
                "kinds": _kinds(cb),
                "ids": list(cb.ids),
                "other": cb.other_id,
                "hand": [c or None for c in result.corpus.codes],
                "machine": list(result.codebook_theme or []),
            }
    finally:
        finder.ThemeFinder._code = original  # type: ignore[method-assign]
    return out


def code(
    d: dict[str, Any],
    *,
    scale: str = "spread",
    self_train: bool = True,
    share: float = 0.5,
    pool: float | str = "auto",
    other: float = 0.0,
    kinds: tuple[str, ...] | None = None,
) -> list[str]:
    """The codebook coding of corpus ``d`` with one variant (defaults: the shipped coding)."""
    from themekit.themes import guided

    Y, C, ids = d["Y"], d["C"], d["ids"]
    owners, kind = np.asarray(d["owners"], dtype=object), np.asarray(d["kinds"])
    use = np.isin(kind, kinds) if kinds else np.ones(len(C), dtype=bool)
    for t in ids:  # a theme without texts of these kinds keeps all of its texts
        if not (use & (owners == t)).any():
            use |= owners == t
    scores = guided.theme_scores(Y, C[use], list(owners[use]), ids)
    if scale == "z":
        scores = (scores - scores.mean(axis=0)) / scores.std(axis=0)
    elif scale == "examples":
        ref = guided.theme_scores(C[kind == "ex"], C[use], list(owners[use]), ids)
        scores = scores / ref.std(axis=0)
    else:
        scores = guided.scale_as_set(scores, scale, d["centred"])
    labels = np.asarray([ids.index(o) for o in d["owners"]])
    proba = guided.self_train(Y, scores, C, labels, share=share) if self_train else scores
    proba, _ = guided.pool_as_set(proba, d["questions"], pool)
    proba = proba.copy()
    proba[:, ids.index(d["other"])] += other
    return [ids[j] for j in proba.argmax(axis=1)]


def kappa(hand: list[str | None], machine: list[str], rows: np.ndarray | None = None) -> float:
    from sklearn.metrics import cohen_kappa_score

    idx = np.asarray([i for i, h in enumerate(hand) if h]) if rows is None else rows
    return float(cohen_kappa_score([hand[i] for i in idx], [machine[i] for i in idx]))


def _subset(d: dict[str, Any], keep: list[int]) -> dict[str, Any]:
    return {
        **d,
        "Y": d["Y"][keep],
        "questions": d["questions"][keep],
        "hand": [d["hand"][i] for i in keep],
    }


def table(corpora: dict[str, dict[str, Any]], resamples: int) -> None:
    names = list(corpora)
    main_names = [n for n in names if not n.startswith("demo/")]
    rng = np.random.default_rng(0)
    ref = {n: code(corpora[n]) for n in names}
    for n in names:  # the recoding reproduces the pipeline's own coding
        if ref[n] != corpora[n]["machine"]:
            logging.warning("%s: the recoding differs from the pipeline's coding", n)
    print("| variant | " + " | ".join(names) + " | mean (no sessions) |")
    print("|---|" + "---|" * (len(names) + 1))
    for v, kw in VARIANTS.items():
        cells, means = [], []
        for n in names:
            d = corpora[n]
            m = code(d, **kw)
            k = kappa(d["hand"], m)
            if n in main_names:
                means.append(k)
            cell = f"{k:.3f}"
            if kw and resamples:
                idx = np.asarray([i for i, h in enumerate(d["hand"]) if h])
                diffs = [
                    kappa(d["hand"], m, b) - kappa(d["hand"], ref[n], b)
                    for b in (rng.choice(idx, len(idx)) for _ in range(resamples))
                ]
                lo, hi = np.quantile(diffs, [0.025, 0.975])
                cell += f" [{lo:+.2f}, {hi:+.2f}]"
            cells.append(cell)
        print(f"| {v} | " + " | ".join(cells) + f" | {np.mean(means):.3f} |")


def absent(corpora: dict[str, dict[str, Any]]) -> None:
    kappas: dict[str, list[float]] = {v: [] for v in VARIANTS}
    for n, d in corpora.items():
        if n.startswith("demo/"):
            continue
        for t in d["ids"]:
            if t == d["other"]:
                continue
            e = _subset(d, [i for i, h in enumerate(d["hand"]) if h != t])
            for v, kw in VARIANTS.items():
                kappas[v].append(kappa(e["hand"], code(e, **kw)))
    print(
        f"\nOne hand-coded theme left out of the corpus, in turn ({len(kappas['default (spread)'])} subsets): mean κ"
    )
    for v, ks in kappas.items():
        print(f"- {v}: {np.mean(ks):.3f} (worst {min(ks):.3f})")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("data", type=Path, help="the shared benchdata folder")
    ap.add_argument("--absent", action="store_true", help="also leave each theme out in turn")
    ap.add_argument("--bootstrap", type=int, default=1000, help="paired resamples (0 = none)")
    ap.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="a config override for every run, e.g. embedding.language_neutral=false",
    )
    args = ap.parse_args(argv)
    logging.disable(logging.INFO)
    corpora = capture(args.data, args.set)
    table(corpora, args.bootstrap)
    if args.absent:
        absent(corpora)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
