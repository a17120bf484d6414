"""The job config: one typed schema, validated when the file is read."""

from __future__ import annotations

import copy
import re
import reprlib
from importlib import resources
from pathlib import Path
from typing import Any

import yaml
from pydantic import Field, ValidationError

from themekit.config._base import Section
from themekit.config.corpus import CorpusConfig, LanguageConfig, SegmentationConfig
from themekit.config.embedding import EmbeddingConfig
from themekit.config.evaluation import EvaluationConfig, OutputConfig
from themekit.config.execution import ExecutionConfig
from themekit.config.themes import CodebookConfig, ThemesConfig
from themekit.errors import ConfigError

PACKAGE_SCHEME = "themekit://"


class JobConfig(Section):
    """A complete themekit job."""

    seed: int = Field(42, ge=0, le=2**32 - 1)
    corpus: CorpusConfig
    segmentation: SegmentationConfig = Field(default_factory=SegmentationConfig)
    language: LanguageConfig = Field(default_factory=LanguageConfig)
    embedding: EmbeddingConfig = Field(default_factory=EmbeddingConfig)
    themes: ThemesConfig = Field(default_factory=ThemesConfig)
    codebook: CodebookConfig = Field(default_factory=CodebookConfig)
    evaluation: EvaluationConfig = Field(default_factory=EvaluationConfig)
    output: OutputConfig = Field(default_factory=OutputConfig)
    execution: ExecutionConfig = Field(default_factory=ExecutionConfig)
    base_dir: str = Field(
        ".", description="folder that relative paths resolve against (set on load)"
    )

    def resolve_path(self, value: str) -> Path:
        """Resolve a path from the config: ``themekit://`` is the package data, relative is
        relative to the config file's folder."""
        return resolve_path(value, Path(self.base_dir))


def resolve_path(value: str, base_dir: Path) -> Path:
    if value.startswith(PACKAGE_SCHEME):
        rel = value[len(PACKAGE_SCHEME) :].strip("/")
        root = Path(str(resources.files("themekit") / "data"))
        return root / rel
    p = Path(value).expanduser()
    return p if p.is_absolute() else (base_dir / p)


#: Limits on a YAML file themekit reads (job configs, codebooks, run folders' config.yaml):
#: its size, and the number of values once every alias (``*name``) is expanded — what a
#: "billion laughs" file of a few hundred bytes would make 10^9 of.
MAX_YAML_BYTES = 5_000_000
MAX_YAML_VALUES = 200_000

_REPR = reprlib.Repr()
_REPR.maxlevel, _REPR.maxlist, _REPR.maxdict, _REPR.maxstring, _REPR.maxother = 3, 6, 6, 70, 70


def _describe(value: Any) -> str:
    """A short repr (never the whole of a large or self-referencing value)."""
    text = _REPR.repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def _expanded_size(data: Any, limit: int) -> int:
    """How many values ``data`` holds with shared (aliased) parts counted each time they are
    used; stops counting past ``limit``. Cycles count as past the limit."""
    memo: dict[int, int] = {}
    stack: list[tuple[Any, bool]] = [(data, False)]
    pending: list[int] = []
    # iterative post-order walk: a container's size is 1 + its children's
    while stack:
        node, done = stack.pop()
        if not isinstance(node, (dict, list)):
            pending.append(1)
            continue
        key = id(node)
        if done:
            children = list(node.keys()) + list(node.values()) if isinstance(node, dict) else node
            n = 1 + sum(pending.pop() for _ in range(len(children)))
            memo[key] = min(n, limit + 1)
            pending.append(memo[key])
            continue
        if key in memo:
            pending.append(memo[key])
            continue
        memo[key] = limit + 1  # a cycle back to this node counts as too big
        stack.append((node, True))
        children = list(node.keys()) + list(node.values()) if isinstance(node, dict) else node
        stack.extend((c, False) for c in reversed(children))
    total = pending.pop() if pending else 0
    return total


class _Loader(yaml.SafeLoader):
    """PyYAML's safe loader with YAML 1.2's floats: ``5e-5`` and ``1e3`` are numbers (YAML 1.1,
    which PyYAML follows, wants a dot and a signed exponent, ``5.0e-5``, and reads ``5e-5`` as
    a string, which a float setting then rejects)."""


_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(
        r"""^(?:[-+]?(?:[0-9][0-9_]*)\.[0-9_]*(?:[eE][-+]?[0-9]+)?
        |[-+]?(?:[0-9][0-9_]*)(?:[eE][-+]?[0-9]+)
        |\.[0-9_]+(?:[eE][-+]?[0-9]+)?
        |[-+]?\.(?:inf|Inf|INF)
        |\.(?:nan|NaN|NAN))$""",
        re.X,
    ),
    list("-+0123456789."),
)


def load_yaml(
    text: str, *, source: str | Path | None = None, max_values: int = MAX_YAML_VALUES
) -> Any:
    """``yaml.safe_load`` with limits: at most ``MAX_YAML_BYTES`` characters and
    ``max_values`` values with aliases expanded. Raises :class:`ConfigError` naming the line."""
    if len(text) > MAX_YAML_BYTES:
        raise ConfigError(
            f"the YAML file is {len(text):,} characters long; themekit reads at most "
            f"{MAX_YAML_BYTES:,}",
            source=source,
        )
    try:
        data = yaml.load(text, Loader=_Loader)  # a SafeLoader: no Python objects
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise ConfigError(
            f"not valid YAML{where}: {getattr(exc, 'problem', None) or exc}", source=source
        ) from None
    except RecursionError:
        raise ConfigError("the YAML is nested too deeply", source=source) from None
    if _expanded_size(data, max_values) > max_values:
        raise ConfigError(
            f"the YAML expands to more than {max_values:,} values once its aliases (*name) are "
            "expanded, or refers to itself; a job config or codebook never needs that many",
            source=source,
        )
    return data


#: Names pydantic gives the branches of a union (``int | Literal['auto']``) in an error's location.
_BRANCH = re.compile(r"^(int|str|float|bool|none|list|dict|constrained-\w+|\w+\[.*\])$")


def format_validation_error(err: ValidationError, source: str | Path | None = None) -> ConfigError:
    """Turn pydantic's errors into one message naming each dotted key, expectation and value
    (the branches of a union are given on one line: "should be ... or ...")."""
    by_key: dict[str, list[str]] = {}
    for e in err.errors():
        loc = [str(p) for p in e["loc"]]
        while loc and _BRANCH.match(loc[-1]):
            loc.pop()
        key = ".".join(loc) or "<top level>"
        if e["type"] == "extra_forbidden":
            line = f"is not a known key here (misspelt?). Got {_describe(e['input'])}."
        elif e["type"] == "missing":
            line = "is required but missing."
        else:
            msg = e["msg"].removeprefix("Value error, ")
            line = f"{msg}. Got {_describe(e['input'])} instead."
        by_key.setdefault(key, []).append(line)
    lines = []
    for key, msgs in by_key.items():
        if len(msgs) > 1 and all(m.endswith(" instead.") for m in msgs):
            got = msgs[0][msgs[0].rindex(". Got ") :]
            msgs = [" or ".join(m[: m.rindex(". Got ")] for m in msgs) + got]
        lines += [f"[{key}] {m}" for m in msgs]
    where = f"{source}: " if source else ""
    msg = f"{where}invalid config:\n  " + "\n  ".join(lines[:20])
    if len(lines) > 20:
        msg += f"\n  ... and {len(lines) - 20} more"
    error = ConfigError(msg)
    error.key = next(iter(by_key), None)
    return error


def apply_overrides(data: dict[str, Any], overrides: list[str] | None) -> dict[str, Any]:
    """Apply ``dotted.key=value`` overrides; each value is parsed as YAML."""
    data = copy.deepcopy(data)
    for item in overrides or []:
        if "=" not in item:
            raise ConfigError(f"--set expects dotted.key=value, got {item!r}", key=item)
        key, raw = item.split("=", 1)
        key = key.strip()
        if not key:
            raise ConfigError(f"--set expects dotted.key=value, got {item!r}")
        try:
            value = load_yaml(raw) if raw.strip() else ""
        except ConfigError as exc:
            raise ConfigError(f"value {_describe(raw)} is not valid: {exc}", key=key) from None
        node = data
        parts = key.split(".")
        for part in parts[:-1]:
            child = node.get(part)
            if child is None:
                child = node[part] = {}
            if not isinstance(child, dict):
                raise ConfigError(f"cannot set {key!r}: {part!r} is not a section", key=key)
            node = child
        node[parts[-1]] = value
    return data


def config_from_dict(
    data: dict[str, Any], *, base_dir: str | Path = ".", source: str | Path | None = None
) -> JobConfig:
    if not isinstance(data, dict):
        raise ConfigError(
            f"a job config must be a mapping of sections, got {type(data).__name__}", source=source
        )
    data = dict(data)
    data.setdefault("base_dir", str(Path(base_dir).resolve()))
    try:
        return JobConfig.model_validate(data)
    except ValidationError as err:
        raise format_validation_error(err, source) from None


def load_config(path: str | Path, overrides: list[str] | None = None) -> JobConfig:
    """Read and validate a YAML job file. Raises :class:`ConfigError` naming the key."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"config file not found: {path}", source=path)
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(f"config file is not UTF-8 text ({exc.reason})", source=path) from None
    data = load_yaml(text, source=path) or {}
    if not isinstance(data, dict):
        raise ConfigError(
            f"a job config must be a mapping of sections, got {type(data).__name__}", source=path
        )
    recorded = data.pop("base_dir", None) if is_run_config(path) else None
    data = apply_overrides(data, overrides)
    if "base_dir" in data:  # in a file the user wrote, or from --set
        raise ConfigError(
            "'base_dir' is set by themekit from the config's location", key="base_dir", source=path
        )
    if isinstance(recorded, str) and recorded:
        # a run folder's config.yaml: its relative paths resolve where the original config was
        return config_from_dict(data, base_dir=recorded, source=path)
    return config_from_dict(data, base_dir=path.parent, source=path)


def is_run_config(path: Path) -> bool:
    """Whether ``path`` is the ``config.yaml`` that themekit recorded in a run folder (the only
    config file whose ``base_dir`` is read: the folder its relative paths resolve against)."""
    return path.name == "config.yaml" and (path.parent / "manifest.json").is_file()


def dump_config(cfg: JobConfig) -> str:
    """The resolved config as YAML (what a run folder records; ``themekit run`` reruns it).

    Every default is filled in except the table columns: a column left at its default name is
    optional when the file is read (only a mapped column must exist), so only the columns the
    job mapped are written, and the rerun reads the table as the run did.
    """
    data = cfg.model_dump(mode="json")
    data["corpus"]["columns"] = cfg.corpus.columns.model_dump(mode="json", exclude_unset=True)
    return yaml.safe_dump(data, sort_keys=False, allow_unicode=True)
