"""The run manifest: one class writes and reads ``manifest.json``, keys and format unchanged."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from themekit.errors import InputError
from themekit.manifest import Manifest, build_manifest, machine_summary

from .conftest import DEMO


def _manifest(tmp_path: Path, **extra: object) -> Manifest:
    return build_manifest(
        seed=7,
        inputs=[DEMO / "week1.txt"],
        model_id="m",
        embedder_id="e",
        timings={"load": 0.5},
        extra={"n_segments": 3, "n_context_segments": 1, "mode": "discover", **extra},
    )


def test_written_and_read_back_by_the_same_class(tmp_path: Path) -> None:
    m = _manifest(tmp_path, config_file=None)
    path = m.write(tmp_path / "manifest.json")
    data = json.loads(path.read_text(encoding="utf-8"))
    # the JSON keys are the ones run folders always had, provenance first
    assert list(data)[:10] == [
        "themekit_version",
        "created",
        "python",
        "platform",
        "seed",
        "model_id",
        "embedder_id",
        "inputs",
        "stage_seconds",
        "package_versions",
    ]
    assert (
        data["inputs"][0]["path"].endswith("week1.txt") and len(data["inputs"][0]["sha256"]) == 64
    )
    assert data["config_file"] is None and data["n_context_segments"] == 1
    back = Manifest.read(path)
    assert back == m and back.to_json() == path.read_text(encoding="utf-8")
    assert back.seed == 7 and back.inputs[0].sha256 == m.inputs[0].sha256
    # dict-style access still works for code written against the plain dict
    assert back["seed"] == 7 and back.get("missing", 3) == 3 and "mode" in back
    assert back.inputs[0]["path"] == m.inputs[0].path


def test_fields_it_does_not_know_are_kept(tmp_path: Path) -> None:
    m = _manifest(tmp_path, k_chosen_by="silhouette", spaces={"full": 0.4})
    back = Manifest.read(m.write(tmp_path / "manifest.json"))
    assert back["k_chosen_by"] == "silhouette" and back.get("spaces") == {"full": 0.4}


def test_a_bad_manifest_names_the_file_and_the_key(tmp_path: Path) -> None:
    path = tmp_path / "manifest.json"
    path.write_text("{not json", encoding="utf-8")
    with pytest.raises(InputError, match="manifest is not readable JSON") as err:
        Manifest.read(path)
    assert str(path) in str(err.value)
    data = json.loads(_manifest(tmp_path).to_json())
    data["seed"] = "forty-two"
    path.write_text(json.dumps(data), encoding="utf-8")
    with pytest.raises(InputError, match=r"\[seed\]"):
        Manifest.read(path)


def test_the_machine_line_says_what_ran_and_why(tmp_path: Path) -> None:
    """Runs differ slightly between a CPU with native bf16 and one without: the reports say
    which machine made a run and what precision it chose there; older manifests say nothing."""
    assert machine_summary(_manifest(tmp_path)) is None
    m = _manifest(
        tmp_path,
        machine={"cpu": "AMD EPYC", "cores": 2, "native_bf16": False, "gpu": None},
        embedding_run={
            "backend": "e5",
            "runtime": "torch",
            "device": "cpu",
            "precision_setting": "auto",
            "precision": "fp32",
            "precision_reason": "this CPU has no native bf16 (avx512_bf16/AMX)",
        },
    )
    back = Manifest.read(m.write(tmp_path / "manifest.json"))
    assert machine_summary(back) == (
        "AMD EPYC, 2 cores, no native bf16; e5 ran on cpu with torch in fp32 "
        "(embedding.precision: auto; this CPU has no native bf16 (avx512_bf16/AMX))"
    )
    m.machine = {"cpu": None, "cores": 16, "native_bf16": True, "gpu": "NVIDIA H100"}
    m.embedding_run = None
    assert machine_summary(m) == "unknown CPU, 16 cores, native bf16, GPU NVIDIA H100"
