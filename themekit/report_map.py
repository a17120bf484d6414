"""The report's 2-D map of the segments (``report.html``'s map section, ``embeddings_2d.csv``)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from themekit.html_parts import SYMBOLS, Figures, esc, map_sample, project_2d, short, theme_name
from themekit.qda.model import theme_color

if TYPE_CHECKING:
    from themekit.result import RunResult


def map_frame(result: RunResult) -> Any:
    """The 2-D map's data (segment_id, x, y, theme_id) of :meth:`RunResult.vector_rows`."""
    import pandas as pd

    X = result.cluster_embeddings if result.cluster_embeddings is not None else result.embeddings
    Y, rows, ids = project_2d(np.asarray(X)), result.vector_rows(), result.corpus.ids
    return pd.DataFrame(
        {
            "segment_id": [ids[i] for i in rows.tolist()],
            "x": np.round(Y[:, 0], 6),
            "y": np.round(Y[:, 1], 6),
            "theme_id": [int(x) for x in np.asarray(result.labels)[rows]],
        }
    )


def map_html(result: RunResult, figs: Figures, frame: Any) -> str:
    """The report's map: segments on two principal components, by theme and language."""
    import plotly.graph_objects as go

    names = {t.id: t.label for t in result.themes}
    rows = result.vector_rows()  # frame row -> segment
    labels = frame["theme_id"].to_numpy()
    shown = map_sample(labels)
    fig = go.Figure()
    for tid in sorted(set(labels.tolist()), key=lambda x: (x < 0, x)):
        idx = shown[labels[shown] == tid]
        segs = [result.corpus[int(rows[i])] for i in idx]
        hover = [
            f"<b>{esc(s.id)}</b> · {esc(s.speaker or '?')} · {esc(s.session or '?')} · "
            f"{esc(s.language)}<br>{esc(short(s.text, 140))}"
            for s in segs
        ]
        fig.add_scatter(
            x=frame["x"].to_numpy()[idx],
            y=frame["y"].to_numpy()[idx],
            mode="markers",
            name=esc(short(theme_name(tid, names), 45)),
            marker={
                "color": theme_color(tid),
                "size": 8,
                "opacity": 0.85 if tid >= 0 else 0.5,
                "symbol": [SYMBOLS.get(s.language, "circle") for s in segs],
                "line": {"width": 0.5, "color": "#333"},
            },
            hovertext=hover,
            hoverinfo="text",
        )
    fig.update_layout(
        title="Segments on the first two principal components of their embeddings",
        height=620,
        template="plotly_white",
        margin={"l": 10, "r": 10, "t": 40, "b": 30},
        xaxis={"title": "PC 1", "zeroline": False},
        yaxis={"title": "PC 2", "zeroline": False},
        legend_title_text="theme",
    )
    note = (
        '<p class="meta">Each point is a segment, coloured by candidate theme; the shape is its '
        "language (circle Malay, square English, diamond code-switched, cross unknown). Points close "
        "together have similar embeddings; the axes have no meaning of their own."
    )
    if len(shown) < len(labels):
        note += (
            f" The map shows {len(shown):,} of the {len(labels):,} segments, every theme "
            "in proportion to its size (evenly spaced within it, not drawn at random); "
            "<code>embeddings_2d.csv</code> beside this report holds them all."
        )
    return figs.div(fig, "fig-map") + note + "</p>"
