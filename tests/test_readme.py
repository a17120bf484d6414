"""The README's stage-by-stage library example runs as written (keeps the README true)."""

from __future__ import annotations

import re
from typing import Any

import pytest

from .conftest import REPO


def _python_blocks() -> list[str]:
    text = (REPO / "README.md").read_text(encoding="utf-8")
    return re.findall(r"```python\n(.*?)```", text, flags=re.S)


def test_stage_by_stage_example_runs(demo_result: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    block = next(b for b in _python_blocks() if "ThemeFinder" in b)
    # The example embeds without a cache (``cache_dir=None``); here it reads the session's cache,
    # which the demo run (demo_result) filled with the same model's vectors of the same texts, so
    # the demo is not embedded a second time. Everything else runs as written.
    from themekit.embed import default_cache_dir

    block = block.replace("cache_dir=None", "cache_dir=_test_cache_dir")
    monkeypatch.chdir(REPO)
    namespace: dict[str, object] = {"_test_cache_dir": default_cache_dir()}
    exec(compile(block, "README.md", "exec"), namespace)
    corpus = namespace["corpus"]
    themes = namespace["themes"]
    scores = namespace["scores"]
    assert len(corpus) == 283  # type: ignore[arg-type]  # 339 turns, 56 of them the moderator's
    assert len(themes) >= 2  # type: ignore[arg-type]
    assert 0.0 <= scores.to_dict()["nmi"] <= 1.0  # type: ignore[attr-defined]
