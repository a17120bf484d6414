"""The pieces the HTML report is built from (:mod:`themekit.report_html`): its stylesheet,
escaping, short forms of numbers and text, the Plotly figure renderer and the 2-D projection of
the segments' map."""

from __future__ import annotations

import html
import re
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:  # pragma: no cover
    import plotly.graph_objects as go


LANG_NAMES = {"ms": "Malay", "en": "English", "mixed": "code-switched", "unknown": "unknown"}
SYMBOLS = {"ms": "circle", "en": "square", "mixed": "diamond", "unknown": "x"}
PLOT_CONFIG = {"displaylogo": False, "responsive": True}

CSS = """
:root { --fg:#1f2328; --muted:#57606a; --line:#d0d7de; --bg:#ffffff; --soft:#f6f8fa; --accent:#0969da; }
* { box-sizing: border-box; }
body { margin:0; font: 15px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color:var(--fg);
       background:var(--bg); }
header.top { position:sticky; top:0; z-index:10; background:var(--soft); border-bottom:1px solid var(--line);
             padding:.5rem 1.5rem; display:flex; gap:1.5rem; align-items:baseline; flex-wrap:wrap; }
header.top h1 { font-size:1.15rem; margin:0; }
header.top nav a { margin-right:1rem; color:var(--accent); text-decoration:none; }
main { max-width: 1200px; margin: 0 auto; padding: 1rem 1.5rem 4rem; }
section { margin-top:2rem; scroll-margin-top:3.5rem; }
h2 { border-bottom:1px solid var(--line); padding-bottom:.25rem; }
.cards { display:grid; grid-template-columns: repeat(auto-fill, minmax(170px, 1fr)); gap:.75rem; }
.card { background:var(--soft); border:1px solid var(--line); border-radius:8px; padding:.6rem .8rem; }
.card .n { font-size:1.6rem; font-weight:600; }
.card .l { color:var(--muted); font-size:.85rem; }
.theme { border:1px solid var(--line); border-left:8px solid var(--c); border-radius:8px; padding:.75rem 1rem;
         margin:1rem 0; }
.theme h3 { margin:.1rem 0 .4rem; }
.meta { color:var(--muted); font-size:.9rem; }
.description { font-style:italic; margin:.3rem 0; }
.kw { display:inline-block; background:var(--soft); border:1px solid var(--line); border-radius:999px;
      padding:0 .55rem; margin:.1rem .15rem; font-size:.88rem; }
.lang { font-weight:600; margin-right:.3rem; }
blockquote { margin:.5rem 0; padding:.35rem .8rem; border-left:3px solid var(--line); background:var(--soft); }
blockquote footer { color:var(--muted); font-size:.85rem; }
.subthemes { margin:.5rem 0; font-size:.92rem; } .subthemes ul { margin:.2rem 0; }
.prompts { margin:.4rem 0; font-size:.9rem; } .prompts ul { margin:.3rem 0; }
.prompts .n { color:var(--muted); }
.flag { color:#9a6700; font-weight:600; }
table { border-collapse:collapse; margin:.5rem 0; }
th, td { border:1px solid var(--line); padding:.25rem .6rem; text-align:left; vertical-align:top; }
th { background:var(--soft); }
td.num { text-align:right; font-variant-numeric: tabular-nums; }
pre { background:var(--soft); border:1px solid var(--line); padding:.75rem; overflow:auto; font-size:.85rem; }
.note { background:#fff8c5; border:1px solid #d4a72c; border-radius:6px; padding:.5rem .8rem; }
.fig { width:100%; }
"""


# ================================================================================== helpers
def esc(text: object) -> str:
    return html.escape("" if text is None else str(text), quote=True)


def inline(text: str) -> str:
    """A sentence of :mod:`themekit.facts` as HTML text: escaped, with `code` as ``<code>``."""
    return re.sub(r"`([^`]*)`", r"<code>\1</code>", html.escape(text, quote=False))


def theme_name(tid: int, labels: dict[int, str]) -> str:
    return "outliers" if tid < 0 else f"T{tid}: {labels.get(tid, '')}"


def short(text: str, n: int = 160) -> str:
    text = " ".join(text.split())
    return text if len(text) <= n else text[: n - 1] + "…"


def ci_pair(ci: Any) -> tuple[float, float] | None:
    if not ci:
        return None
    if isinstance(ci, dict):
        lo, hi = ci.get("low"), ci.get("high")
    else:
        lo, hi = ci[0], ci[1]
    return None if lo is None or hi is None else (float(lo), float(hi))


class Figures:
    """Renders Plotly figures to HTML divs; plotly.js goes inline with the first one only."""

    def __init__(self) -> None:
        self.first = True

    def div(self, fig: go.Figure, div_id: str) -> str:
        out = fig.to_html(
            full_html=False,
            include_plotlyjs=self.first,
            div_id=div_id,
            config=PLOT_CONFIG,
            default_width="100%",
        )
        self.first = False
        return f'<div class="fig">{out}</div>'


def project_2d(X: np.ndarray, chunk: int = 8192) -> np.ndarray:
    """A deterministic 2-D projection (PCA; the sign of each axis fixed by its largest loading).

    The components come from the ``d x d`` covariance, summed in chunks of ``chunk`` rows, so
    memory stays at the output's ``n x 2`` beside ``X`` (an SVD of the centred ``n x d`` matrix
    held two float64 copies of it and its ``n x d`` factor: ~1 GiB at 100,000 x 384)."""
    X = np.asarray(X)
    n = X.shape[0]
    if n == 0:
        return np.zeros((0, 2))
    if X.ndim != 2 or X.shape[1] < 2 or n < 2:
        out = np.zeros((n, 2))
        if X.ndim == 2 and X.shape[1] >= 1:
            out[:, 0] = X[:, 0]
        return out
    mean = X.mean(axis=0, dtype=np.float64)
    cov = np.zeros((X.shape[1], X.shape[1]))
    for a in range(0, n, chunk):
        c = np.asarray(X[a : a + chunk], dtype=np.float64) - mean
        cov += c.T @ c
    _, vecs = np.linalg.eigh(cov)  # eigenvalues ascending
    comps = vecs[:, ::-1][:, :2].T
    signs = np.sign(comps[np.arange(comps.shape[0]), np.abs(comps).argmax(axis=1)])
    signs[signs == 0] = 1
    comps = comps * signs[:, None]
    Y = np.zeros((n, 2))
    for a in range(0, n, chunk):
        Y[a : a + chunk] = (np.asarray(X[a : a + chunk], dtype=np.float64) - mean) @ comps.T
    return Y


#: At most this many segments are drawn on the report's map (a plotly scatter of 100,000
#: points with their quotes makes a report of ~35 MB that a browser opens slowly);
#: ``embeddings_2d.csv`` keeps every point.
MAP_POINTS = 5000


def map_sample(labels: np.ndarray, limit: int = MAP_POINTS) -> np.ndarray:
    """Row indices of at most ``limit`` points, each theme (label) in proportion to its size
    and at least one of each, evenly spaced within it (no random draw): all rows when they
    fit."""
    labels = np.asarray(labels)
    n = labels.shape[0]
    if n <= limit:
        return np.arange(n)
    keep = []
    for tid in np.unique(labels):
        rows = np.flatnonzero(labels == tid)
        m = max(1, round(limit * rows.size / n))
        keep.append(rows[np.linspace(0, rows.size - 1, min(m, rows.size)).round().astype(int)])
    return np.sort(np.unique(np.concatenate(keep)))


def subthemes_html(theme: Any) -> str:
    """The sub-themes of a theme (``CandidateTheme.subthemes``) as a short list; "" without."""
    if not getattr(theme, "subthemes", None):
        return ""
    items = "".join(
        f"<li><b>{esc(s.id)}</b> {esc(s.label)} ({s.size} segments)"
        + (f": <q>{esc(short(s.quotes[0].text))}</q>" if s.quotes else "")
        + "</li>"
        for s in theme.subthemes
    )
    return f'<div class="subthemes">Sub-themes (a finer level):<ul>{items}</ul></div>'


def learning_curve_html(manifest: Any, figs: Figures) -> str:
    """The learning curve of a semi-supervised run (kappa on the segments not given against the
    share given) as a small figure and its note; "" when the run has none."""
    import plotly.graph_objects as go

    from themekit.themes.curve import curve_note, curve_of

    got = curve_of(manifest)
    if got is None:
        return ""
    points, method, share = got
    fig = go.Figure(
        go.Scatter(
            x=[100 * p["share"] for p in points],
            y=[p["kappa"] for p in points],
            mode="lines+markers",
            text=[f"{p['n_given']} given, {p['n_scored']} scored" for p in points],
            hovertemplate="%{x:.0f}% given: kappa %{y:.3f}<br>%{text}<extra></extra>",
        )
    )
    fig.add_vline(x=100 * share, line_dash="dot", annotation_text="this run")
    fig.update_layout(
        title="Learning curve: kappa on the segments not given",
        xaxis={"title": "% of the hand codes given", "rangemode": "tozero"},
        yaxis={"title": "Cohen's kappa"},
        height=300,
        width=520,
        margin={"l": 10, "r": 10, "t": 40, "b": 40},
        template="plotly_white",
    )
    note = f'<p class="meta">{esc(curve_note(method, share))}</p>'
    return f'<div id="learning-curve">{figs.div(fig, "fig-learning-curve")}{note}</div>'
