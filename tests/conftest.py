from __future__ import annotations

import os
from pathlib import Path

import pytest

# Tests never reach a model hub.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")

REPO = Path(__file__).resolve().parent.parent
DEMO_CONFIG = REPO / "configs" / "demo.yaml"
DEMO = REPO / "themekit" / "data" / "demo"
#: The demo job made quick: TF-IDF vectors and k-means, no codebook (for tests of what comes
#: after the themes; the slow browser test runs the real demo job).
FAST_DEMO = [
    "output.name=demo",
    "embedding.backend=tfidf",
    "codebook.path=null",
    "themes.n_themes=5",
    "themes.clustering=kmeans",
    "themes.reduction=none",
    "evaluation.bootstrap=100",
]


@pytest.fixture(scope="session", autouse=True)
def _isolated_cache(tmp_path_factory: pytest.TempPathFactory) -> None:
    """Embeddings cached by tests go to a temporary folder, shared by the session."""
    if "THEMEKIT_CACHE" not in os.environ:
        os.environ["THEMEKIT_CACHE"] = str(tmp_path_factory.mktemp("themekit-cache"))
