"""Job configuration (pydantic schemas, one section per pipeline stage)."""

from themekit.config.corpus import Columns, CorpusConfig, LanguageConfig, SegmentationConfig
from themekit.config.embedding import EmbeddingConfig
from themekit.config.evaluation import EvaluationConfig, OutputConfig
from themekit.config.execution import ExecutionConfig
from themekit.config.job import (
    JobConfig,
    apply_overrides,
    config_from_dict,
    dump_config,
    load_config,
    resolve_path,
)
from themekit.config.themes import CodebookConfig, ThemesConfig

__all__ = [
    "CodebookConfig",
    "Columns",
    "CorpusConfig",
    "EmbeddingConfig",
    "EvaluationConfig",
    "ExecutionConfig",
    "JobConfig",
    "LanguageConfig",
    "OutputConfig",
    "SegmentationConfig",
    "ThemesConfig",
    "apply_overrides",
    "config_from_dict",
    "dump_config",
    "load_config",
    "resolve_path",
]
