"""The ray execution engine: config and error handling (fast), and real local Ray runs (slow):
the demo gives the same assignments as the local engine, and a worker killed during the
embedding loses no finished shard."""

from __future__ import annotations

import json
import os
import signal
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from themekit.cli import app
from themekit.config import load_config
from themekit.distributed import stratified_sample
from themekit.embed.cache import EmbeddingCache
from themekit.errors import ConfigError

from .conftest import DEMO_CONFIG, FAST_DEMO

runner = CliRunner()


def _cli(args: list[str]) -> tuple[int, str]:
    res = runner.invoke(app, args)
    return res.exit_code, res.stderr


# -- config and user errors (fast, no Ray started) ---------------------------------------------
def test_local_engine_is_the_default() -> None:
    cfg = load_config(DEMO_CONFIG)
    assert cfg.execution.engine == "local"
    assert cfg.execution.address == "auto"


@pytest.mark.parametrize(
    ("override", "key", "expected"),
    [
        ("execution.engine=spark", "execution.engine", "'local' or 'ray'"),
        ("execution.address=somewhere", "execution.address", "ray://host:port"),
        ("execution.num_workers=0", "execution.num_workers", "greater than or equal to 1"),
        ("execution.gpus_per_worker=-1", "execution.gpus_per_worker", "'auto' or a number"),
        ("execution.sample_size=5", "execution.sample_size", "greater than or equal to 100"),
        ("execution.workers=2", "execution.workers", "not a known key"),
    ],
)
def test_bad_execution_values_are_named(override: str, key: str, expected: str) -> None:
    with pytest.raises(ConfigError) as err:
        load_config(DEMO_CONFIG, [override])
    assert err.value.key == key
    assert f"[{key}]" in str(err.value) and expected in str(err.value)
    code, stderr = _cli(["run", str(DEMO_CONFIG), "--set", override, "-q"])
    assert code == 2 and key in stderr and "Traceback" not in stderr


def test_ray_engine_without_ray_installed_exits_2_with_the_install_command(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # `import ray` fails as it does when the extra is not installed
    for name in [m for m in sys.modules if m == "ray" or m.startswith("ray.")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "ray", None)
    code, stderr = _cli(
        ["run", str(DEMO_CONFIG), "--out", str(tmp_path), "--set", "execution.engine=ray", "-q"]
    )
    assert code == 2, stderr
    flat = " ".join(stderr.split())
    assert "[execution.engine]" in flat and "pip install 'themekit[ray]'" in flat
    assert "Traceback" not in stderr
    assert not any(tmp_path.iterdir())  # nothing written


@pytest.mark.slow  # ~7 s: loads the demo
def test_finetune_at_scale_on_ray_exits_2_before_any_embedding(tmp_path: Path) -> None:
    pytest.importorskip("ray")
    code, stderr = _cli(
        [
            *("run", str(DEMO_CONFIG), "--out", str(tmp_path), "-q"),
            *("--set", "execution.engine=ray", "--set", "execution.sample_size=100"),
            *("--set", "themes.mode=semi-supervised"),
            *("--set", "themes.semi_supervised.method=finetune"),
            *("--set", f"embedding.cache_dir={tmp_path / 'cache'}"),
        ]
    )
    assert code == 2, stderr
    flat = " ".join(stderr.split())
    assert "[themes.semi_supervised.method]" in flat and "execution.sample_size 100" in flat
    assert not any(tmp_path.iterdir())  # nothing embedded, nothing written


def test_unreachable_cluster_exits_2_naming_the_address(tmp_path: Path) -> None:
    """Both address forms, on this machine only (loopback): a port nobody listens on, and a
    port that accepts connections and never answers (a cluster that hangs), which must end at
    ``connect_timeout_s``."""
    pytest.importorskip("ray")
    import socket

    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    silent = socket.socket()  # accepts (the kernel's backlog), never speaks
    silent.bind(("127.0.0.1", 0))
    silent.listen(8)
    hang = f"127.0.0.1:{silent.getsockname()[1]}"
    try:
        _unreachable(tmp_path, [(f"ray://127.0.0.1:{port}", 5), (hang, 1)])
    finally:
        silent.close()


def _unreachable(tmp_path: Path, cases: list[tuple[str, int]]) -> None:
    for address, timeout in cases:
        t0 = time.perf_counter()
        code, stderr = _cli(
            [
                "run",
                str(DEMO_CONFIG),
                "--out",
                str(tmp_path),
                "-q",
                "--set",
                "execution.engine=ray",
                "--set",
                f"execution.address={address}",
                "--set",
                f"execution.connect_timeout_s={timeout}",
            ]
        )
        assert code == 2, stderr
        flat = " ".join(stderr.split())
        assert "[execution.address]" in flat and address in flat, flat
        assert time.perf_counter() - t0 < timeout + 10  # bounded, no hang
    assert not any(tmp_path.iterdir())


def test_stratified_sample_keeps_each_stratum_share() -> None:
    strata = [("s1", "ms")] * 600 + [("s1", "en")] * 300 + [("s2", "ms")] * 90 + [("s3", "en")] * 10
    idx = stratified_sample(strata, 100, seed=7)
    assert len(idx) == 100 and len(set(idx.tolist())) == 100
    assert (np.diff(idx) > 0).all()
    got = {s: sum(strata[i] == s for i in idx) for s in set(strata)}
    assert got == {("s1", "ms"): 60, ("s1", "en"): 30, ("s2", "ms"): 9, ("s3", "en"): 1}
    assert (stratified_sample(strata, 100, seed=7) == idx).all()
    assert not (stratified_sample(strata, 100, seed=8) == idx).all()
    # a tiny stratum is kept even when its share rounds to zero
    few = [("a", "x")] * 995 + [("b", "y")] * 5
    assert any(few[i] == ("b", "y") for i in stratified_sample(few, 100, seed=0))
    assert (stratified_sample(strata, 5000, seed=0) == np.arange(1000)).all()


# -- real local Ray (slow) ----------------------------------------------------------------------
@pytest.fixture(scope="module")
def local_ray():
    ray = pytest.importorskip("ray")
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield ray
    ray.shutdown()


def _labels(result) -> list[tuple[str, int]]:
    return list(
        zip(result.assignments()["segment_id"], result.assignments()["theme_id"], strict=True)
    )


@pytest.mark.slow
def test_demo_on_ray_gives_the_local_assignments(local_ray, tmp_path: Path) -> None:
    from themekit.pipeline import run

    common = [*FAST_DEMO, "execution.num_workers=2", "execution.shard_rows=64"]
    local = run(
        DEMO_CONFIG, overrides=[*common, f"embedding.cache_dir={tmp_path / 'c1'}"], write=False
    )
    on_ray = run(
        DEMO_CONFIG,
        overrides=[*common, f"embedding.cache_dir={tmp_path / 'c2'}", "execution.engine=ray"],
        out_dir=tmp_path / "runs",
    )
    stats = on_ray.manifest["execution"]["embedding"]
    assert stats["n_cached"] == 0 and stats["n_embedded"] == stats["n_distinct"] > 300
    assert stats["n_shards"] >= 6  # 64 texts per shard, spread over the actor pool
    np.testing.assert_array_equal(on_ray.embeddings, local.embeddings)
    assert _labels(on_ray) == _labels(local)
    assert [t.label for t in on_ray.themes] == [t.label for t in local.themes]
    manifest = json.loads((on_ray.path / "manifest.json").read_text())
    assert manifest["execution"]["engine"] == "ray"
    # the shards are the local cache's: the local engine reuses them without embedding anything
    again = run(
        DEMO_CONFIG, overrides=[*common, f"embedding.cache_dir={tmp_path / 'c2'}"], write=False
    )
    assert _labels(again) == _labels(local)


class _KilledOnce:
    """An embedding backend for the failure test: tfidf whose worker process kills itself
    (SIGKILL) on its third batch while ``flag`` exists, once (it removes the flag first)."""

    def __init__(self, flag: str, inner):
        self.flag = flag
        self.inner = inner
        self.calls = 0
        self.requires_fit = True
        self.min_batch_size = 1

    @property
    def id(self) -> str:
        return self.inner.id

    @property
    def model_id(self) -> str:
        return self.inner.model_id

    def fit(self, texts):
        self.inner.fit(texts)
        return self

    def encode(self, texts):
        self.calls += 1
        if self.calls >= 3 and os.path.exists(self.flag):
            os.remove(self.flag)
            os.kill(os.getpid(), signal.SIGKILL)
        return self.inner.encode(texts)


@pytest.fixture()
def killer_backend(local_ray, tmp_path: Path):
    from themekit.embed.base import EMBEDDERS
    from themekit.embed.tfidf import TfidfEmbedder

    flag = tmp_path / "kill-a-worker"
    name = "tfidf-killed-once"
    if name not in EMBEDDERS:
        EMBEDDERS.register(name)(
            lambda cfg: _KilledOnce(
                os.environ["THEMEKIT_TEST_KILL_FLAG"],
                TfidfEmbedder(n_components=cfg.tfidf_components, batch_size=cfg.batch_size),
            )
        )
    os.environ["THEMEKIT_TEST_KILL_FLAG"] = str(flag)
    local_ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])
    yield name, flag
    del os.environ["THEMEKIT_TEST_KILL_FLAG"]


@pytest.mark.slow
def test_a_killed_worker_loses_no_finished_shard_and_the_rerun_resumes(
    killer_backend, tmp_path: Path
) -> None:
    from themekit.pipeline import run

    name, flag = killer_backend
    cache_dir = tmp_path / "cache"
    overrides = [
        *FAST_DEMO,
        f"embedding.backend={name}",
        f"embedding.cache_dir={cache_dir}",
        "execution.engine=ray",
        "execution.num_workers=1",
        "execution.shard_rows=32",
    ]
    out = tmp_path / "runs"

    # no retries: the killed worker fails the job; nothing is written but the finished shards
    flag.touch()
    with pytest.raises(RuntimeError, match="run the job again to resume"):
        run(DEMO_CONFIG, overrides=[*overrides, "execution.max_retries=0"], out_dir=out)
    assert not flag.exists()  # the worker did die
    assert not out.exists() or not any(out.iterdir())  # no run folder
    (key,) = [d for d in cache_dir.iterdir() if d.is_dir()]
    meta = json.loads((key / "meta.json").read_text())
    saved = sum(len(h) for h, _ in EmbeddingCache(cache_dir, meta["id"]).iter_shards())
    assert saved == 64  # the two batches finished before the kill, not the one it was in

    # the rerun embeds only what is missing
    resumed = run(DEMO_CONFIG, overrides=overrides, out_dir=out)
    stats = resumed.manifest["execution"]["embedding"]
    assert stats["n_cached"] == saved
    assert stats["n_embedded"] == stats["n_distinct"] - saved > 0
    assert (resumed.path / "assignments.csv").is_file()

    # with retries (the default), a worker killed mid-job is restarted and the job completes
    # in one go, with the same result as the local engine
    flag.touch()
    # (here the vectors go back to the driver, which writes the shards)
    fresh = [o for o in overrides if not o.startswith("embedding.cache_dir")]
    retried = run(
        DEMO_CONFIG,
        overrides=[
            *fresh,
            f"embedding.cache_dir={tmp_path / 'c2'}",
            "execution.shared_cache=false",
        ],
        write=False,
    )
    assert not flag.exists()
    local = run(
        DEMO_CONFIG,
        overrides=[*FAST_DEMO, f"embedding.cache_dir={tmp_path / 'c3'}"],
        write=False,
    )
    assert _labels(retried) == _labels(local) == _labels(resumed)


class _DriverArrays:
    """A profiler hook (``sys.setprofile``) on the driver's threads: whenever a themekit function
    returns, the largest number of rows of a vector-like array (2-D float, at least 16 columns,
    not square: a d x d matrix such as the report map's covariance holds no row per segment) it
    returns or holds in a local variable. It watches the real run; it replaces nothing."""

    def __init__(self) -> None:
        import themekit

        self.root = str(Path(themekit.__file__).parent)
        self.max_rows = 0
        self.where = ""

    def __call__(self, frame, event, arg) -> None:
        if event != "return" or not frame.f_code.co_filename.startswith(self.root):
            return
        for v in [arg, *frame.f_locals.values()]:
            for a in v if isinstance(v, tuple) else (v,):
                if (
                    isinstance(a, np.ndarray)
                    and a.ndim == 2
                    and a.dtype.kind == "f"
                    and a.shape[1] >= 16
                    and a.shape[0] != a.shape[1]
                    and a.shape[0] > self.max_rows
                ):
                    self.max_rows = a.shape[0]
                    self.where = f"{frame.f_code.co_name}: {a.shape}"

    def run(self, **kwargs):
        import threading

        from themekit.pipeline import run

        sys.setprofile(self)
        threading.setprofile(self)
        try:
            return run(DEMO_CONFIG, **kwargs)
        finally:
            sys.setprofile(None)
            threading.setprofile(None)  # type: ignore[arg-type]


@pytest.mark.slow
def test_at_scale_the_driver_never_holds_the_corpus_vectors_and_scores_match_the_local_evaluation(
    local_ray, tmp_path: Path
) -> None:
    from themekit.evaluate import evaluate_run

    common = [*FAST_DEMO, "execution.shard_rows=50"]
    local_watch = _DriverArrays()
    local = local_watch.run(
        overrides=[*common, f"embedding.cache_dir={tmp_path / 'c1'}"], write=False
    )
    n = len(local.corpus)
    # the instrument sees the corpus's vectors where they are held: the local engine
    assert local_watch.max_rows >= n, local_watch.where

    watch = _DriverArrays()
    at_scale = watch.run(
        overrides=[
            *common,
            f"embedding.cache_dir={tmp_path / 'c2'}",
            "execution.engine=ray",
            "execution.sample_size=150",
        ],
        out_dir=tmp_path / "runs",
    )
    assert n == 283 and len(at_scale.labels) == n and (at_scale.labels >= 0).all()
    # on the driver nothing vector-like ever had more rows than the sample with the prompts
    # (read from the cache) or one cache shard (50 rows): never one per segment
    n_prompts = at_scale.manifest["n_context_segments"]
    assert 150 <= watch.max_rows <= 150 + n_prompts < n, watch.where
    assert at_scale.embeddings.shape[0] == at_scale.cluster_embeddings.shape[0] == 150
    assert at_scale.sample_rows is not None and len(at_scale.sample_rows) == 150
    # describe saw every segment: theme sizes add up, quotes come from all over the corpus
    assert sum(t.size for t in at_scale.themes) == n
    quoted = {q.segment_id for t in at_scale.themes for q in t.quotes}
    sample_ids = {at_scale.corpus[int(i)].id for i in at_scale.sample_rows}
    assert quoted and quoted - sample_ids  # some quotes are segments outside the sample
    # the report's map shows the sample
    assert (at_scale.path / "embeddings_2d.csv").read_text().count("\n") == 151
    # the evaluation computed in the run (from the labels gathered from the shards) equals the
    # local one computed afterwards from the written assignments.csv and the hand-codes file
    hand = at_scale.config.resolve_path("themekit://demo/hand_codes.csv")
    folder = evaluate_run(at_scale.path, hand, name="again")
    again = json.loads((folder / "scores.json").read_text())
    mine = json.loads((at_scale.path / "scores.json").read_text())
    for key in ("cohen_kappa", "krippendorff_alpha", "macro_f1", "nmi", "ari", "n_segments"):
        assert mine[key] == again[key], key
    assert mine["confidence_intervals"] == again["confidence_intervals"]


@pytest.mark.slow
def test_large_corpus_is_fitted_on_a_stratified_sample_and_the_rest_assigned_on_ray(
    local_ray, tmp_path: Path
) -> None:
    from themekit.pipeline import run

    common = [
        *FAST_DEMO,
        f"embedding.cache_dir={tmp_path / 'cache'}",
        "execution.engine=ray",
        "execution.sample_size=150",
        "execution.shard_rows=50",
        "codebook.path=themekit://demo/codebook.yaml",
    ]
    one = run(DEMO_CONFIG, overrides=[*common, "execution.num_workers=1"], write=False)
    # 2 workers, and the shards handed to them through the object store (no shared folder)
    two = run(
        DEMO_CONFIG,
        overrides=[*common, "execution.num_workers=2", "execution.shared_cache=false"],
        write=False,
    )
    sample = one.manifest["execution"]["sample"]
    assert sample["n_sample"] == 150 and sample["seed"] == one.config.seed
    assert not sample["whole_corpus"] and sample["n_strata"] >= 3
    assert sample["coding_outside_sample"] == "the classifier self-trained on the sample"
    # the same on any number of workers, shared folder or not: assignments, codes, themes
    assert _labels(one) == _labels(two) and one.codebook_theme == two.codebook_theme
    assert [t.to_dict() for t in one.themes] == [t.to_dict() for t in two.themes]
    n = len(one.corpus)
    assert n == 283 and (one.labels >= 0).all() and len(one.codebook_theme) == n
    # the sample is the stratified one
    strata = [(s.session or "", s.language or "") for s in one.corpus]
    idx = stratified_sample(strata, 150, one.config.seed)
    np.testing.assert_array_equal(one.sample_rows, idx)
    # every theme found on the sample keeps members among the other segments too
    rest = np.setdiff1d(np.arange(n), idx)
    assert set(one.labels[rest].tolist()) == set(one.labels[idx].tolist()) - {-1}
    assert one.scores is not None  # compared against the hand codes over all segments


@pytest.mark.slow
def test_demo_with_the_default_embedder_on_ray_gives_the_local_result(
    local_ray, tmp_path: Path
) -> None:
    from themekit.pipeline import run

    common = ["evaluation.bootstrap=100", "execution.shard_rows=64"]
    local = run(
        DEMO_CONFIG, overrides=[*common, f"embedding.cache_dir={tmp_path / 'c1'}"], write=False
    )
    on_ray = run(
        DEMO_CONFIG,
        overrides=[*common, f"embedding.cache_dir={tmp_path / 'c2'}", "execution.engine=ray"],
        write=False,
    )
    assert on_ray.manifest["embedder_id"] == local.manifest["embedder_id"]
    np.testing.assert_allclose(on_ray.embeddings, local.embeddings, atol=1e-5)
    assert _labels(on_ray) == _labels(local)
    assert on_ray.codebook_theme == local.codebook_theme
    assert on_ray.scores is not None and local.scores is not None
    assert on_ray.scores.to_dict() == local.scores.to_dict()
