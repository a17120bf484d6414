"""The README's stage-by-stage library example runs as written (keeps the README true)."""

from __future__ import annotations

import re

import pytest

from .conftest import REPO


def _python_blocks() -> list[str]:
    text = (REPO / "README.md").read_text(encoding="utf-8")
    return re.findall(r"```python\n(.*?)```", text, flags=re.S)


def test_stage_by_stage_example_runs(monkeypatch: pytest.MonkeyPatch) -> None:
    block = next(b for b in _python_blocks() if "ThemeFinder" in b)
    monkeypatch.chdir(REPO)
    namespace: dict[str, object] = {}
    exec(compile(block, "README.md", "exec"), namespace)
    corpus = namespace["corpus"]
    themes = namespace["themes"]
    scores = namespace["scores"]
    assert len(corpus) == 283  # type: ignore[arg-type]  # 339 turns, 56 of them the moderator's
    assert len(themes) >= 2  # type: ignore[arg-type]
    assert 0.0 <= scores.to_dict()["nmi"] <= 1.0  # type: ignore[attr-defined]
