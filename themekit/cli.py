"""The ``themekit`` command: a thin layer over the library.

Exit codes: 0 success, 2 user mistake (bad config, missing or malformed input; one paragraph,
no traceback), 1 anything else.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer
from rich.console import Console
from rich.markup import escape

from themekit.errors import UserError
from themekit.progress import ProgressCallback

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

app = typer.Typer(
    help="Candidate themes from Malay, English and code-switched transcripts, checked against hand coding.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
cache_app = typer.Typer(help="Show or clear the embedding cache.", no_args_is_help=True)
app.add_typer(cache_app, name="cache")

err_console = Console(stderr=True)
out_console = Console()
T = TypeVar("T")


def _setup_logging(verbose: int, quiet: bool) -> None:
    from rich.logging import RichHandler

    level = logging.WARNING if quiet else (logging.DEBUG if verbose else logging.INFO)
    handler = RichHandler(console=err_console, show_path=False, show_time=False, markup=False)
    root = logging.getLogger("themekit")
    root.handlers = [h for h in root.handlers if isinstance(h, logging.NullHandler)]
    root.addHandler(handler)
    root.setLevel(level)
    for noisy in ("numba", "httpx", "urllib3", "filelock"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def _guard(fn: Callable[[], T]) -> T:
    """Run ``fn``; turn user mistakes into exit 2 and anything else into exit 1."""
    try:
        return fn()
    except UserError as exc:
        err_console.print(
            f"[bold red]error:[/] {escape(str(exc))}", highlight=False, soft_wrap=True
        )
        raise typer.Exit(2) from None
    except KeyboardInterrupt:
        err_console.print("interrupted; nothing was written")
        raise typer.Exit(130) from None
    except Exception as exc:
        logging.getLogger("themekit").debug("internal error", exc_info=True)
        err_console.print(
            f"[bold red]internal error:[/] {type(exc).__name__}: {escape(str(exc))}\n"
            "This is a bug in themekit or its environment, not in your input. "
            "Run again with -v to see the traceback and please report it.",
            highlight=False,
        )
        if logging.getLogger("themekit").level <= logging.DEBUG:
            err_console.print_exception()
        raise typer.Exit(1) from None


@contextmanager
def _progress(quiet: bool) -> Iterator[ProgressCallback]:
    if quiet or not err_console.is_terminal:
        yield _log_progress
        return
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeRemainingColumn,
    )

    with Progress(
        TextColumn("{task.description:>10}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        console=err_console,
        transient=True,
    ) as bar:
        tasks: dict[str, Any] = {}

        def update(stage: str, done: int, total: int) -> None:
            if stage not in tasks:
                tasks[stage] = bar.add_task(stage, total=total)
            bar.update(tasks[stage], completed=done, total=total)

        yield update


_last_logged: dict[str, int] = {}


def _log_progress(stage: str, done: int, total: int) -> None:
    # without a terminal: a log line at every 25% step
    step = max(1, total // 4)
    bucket = done // step
    if done == total or bucket != _last_logged.get(stage):
        _last_logged[stage] = bucket
        logging.getLogger("themekit.progress").info("%s: %d/%d", stage, done, total)


Verbose = Annotated[
    int, typer.Option("--verbose", "-v", count=True, help="More log output (-v: debug).")
]
Quiet = Annotated[bool, typer.Option("--quiet", "-q", help="Only warnings and errors.")]


@app.command()
def run(
    config: Annotated[Path, typer.Argument(help="YAML job file.")],
    out: Annotated[
        Path | None,
        typer.Option("--out", help="Folder that receives the run folder (overrides output.dir)."),
    ] = None,
    set_: Annotated[
        list[str] | None,
        typer.Option(
            "--set",
            help="Override a config key: dotted.key=value (value parsed as YAML). Repeatable.",
        ),
    ] = None,
    verbose: Verbose = 0,
    quiet: Quiet = False,
) -> None:
    """Run a job and write a self-describing run folder."""
    _setup_logging(verbose, quiet)

    def go() -> Path | None:
        from themekit.config import load_config
        from themekit.pipeline import run as run_job

        cfg = load_config(config, set_)
        with _progress(quiet) as cb:
            result = run_job(cfg, out_dir=out, progress=cb, config_file=config)
        return result.path

    path = _guard(go)
    out_console.print(str(path), highlight=False, soft_wrap=True)


@app.command()
def validate(
    config: Annotated[Path, typer.Argument(help="YAML job file.")],
    set_: Annotated[
        list[str] | None, typer.Option("--set", help="dotted.key=value override.")
    ] = None,
    verbose: Verbose = 0,
) -> None:
    """Check a job file (and that its input files and codebook exist) without running anything."""
    _setup_logging(verbose, True)

    def go() -> None:
        from themekit.config import load_config
        from themekit.validate import check_inputs

        cfg = load_config(config, set_)
        check_inputs(cfg)

    _guard(go)
    out_console.print(f"{config}: OK", highlight=False)


@app.command()
def evaluate(
    run_dir: Annotated[Path, typer.Argument(help="An existing run folder.")],
    codes: Annotated[
        Path,
        typer.Option(
            "--codes",
            help="Hand-codes table (segment_id, code[, secondary_code]) or a REFI-QDA .qdpx.",
        ),
    ],
    name: Annotated[
        str | None,
        typer.Option("--name", help="Name of this coder/evaluation (default: the file's stem)."),
    ] = None,
    unknown_codes: Annotated[
        str | None,
        typer.Option(
            "--unknown-codes",
            help="Codes that are not codebook ids: 'error' (default: the run's "
            "evaluation.unknown_codes) or 'ignore' (drop them with a warning).",
        ),
    ] = None,
    verbose: Verbose = 0,
    quiet: Quiet = False,
) -> None:
    """Score an existing run against a hand-codes file (e.g. a second coder)."""
    _setup_logging(verbose, quiet)

    def go() -> Path:
        from themekit.evaluate import evaluate_run

        if unknown_codes not in (None, "error", "ignore"):
            raise UserError(f"--unknown-codes must be 'error' or 'ignore'; got {unknown_codes!r}")
        return evaluate_run(run_dir, codes, name=name, unknown_codes=unknown_codes)

    path = _guard(go)
    out_console.print(str(path), highlight=False, soft_wrap=True)


@app.command()
def export(
    run_dir: Annotated[Path, typer.Argument(help="An existing run folder.")],
    qdpx: Annotated[
        Path | None, typer.Option("--qdpx", help="Write the run as a REFI-QDA project (.qdpx).")
    ] = None,
    qdc: Annotated[
        Path | None,
        typer.Option("--qdc", help="Write the run's codebook as a REFI-QDA codebook (.qdc)."),
    ] = None,
    force: Annotated[
        bool, typer.Option("--force", help="Replace export files that already exist.")
    ] = False,
    verbose: Verbose = 0,
) -> None:
    """Export a run for NVivo, ATLAS.ti, MAXQDA, QDA Miner or QualCoder (REFI-QDA)."""
    _setup_logging(verbose, False)
    if qdpx is None and qdc is None:
        err_console.print("error: nothing to export; give --qdpx FILE and/or --qdc FILE")
        raise typer.Exit(2)

    def go() -> list[Path]:
        from themekit.codebook import load_codebook
        from themekit.errors import InputError
        from themekit.qda import export_run_qdpx, write_qdc
        from themekit.rundir import check_export_target, load_run_config

        if qdpx is not None:
            check_export_target(qdpx, suffix=".qdpx", option="--qdpx", force=force)
        if qdc is not None:
            check_export_target(qdc, suffix=".qdc", option="--qdc", force=force)
        written = []
        if qdpx is not None:
            written.append(export_run_qdpx(run_dir, qdpx))
        if qdc is not None:
            cfg = load_run_config(run_dir)
            if not cfg.codebook.path:
                raise InputError(
                    "this run used no codebook, so there is none to export", path=run_dir
                )
            book = load_codebook(
                cfg.resolve_path(cfg.codebook.path), other_id=cfg.codebook.other_id
            )
            written.append(write_qdc(book, qdc))
        return written

    for path in _guard(go):
        out_console.print(str(path), highlight=False, soft_wrap=True)


@app.command()
def suggest(
    run_dir: Annotated[Path, typer.Argument(help="A run folder with a fine-tuned coder.")],
    n: Annotated[int, typer.Option("--n", help="How many segments to suggest.")] = 30,
    out: Annotated[
        Path | None,
        typer.Option(
            "--out", help="CSV to write (default: RUN/suggestions.csv, unless --qdpx is given)."
        ),
    ] = None,
    qdpx: Annotated[
        Path | None,
        typer.Option(
            "--qdpx",
            help="Write them as a REFI-QDA project to code in NVivo, ATLAS.ti or QualCoder.",
        ),
    ] = None,
    force: Annotated[
        bool, typer.Option("--force", help="Replace the CSV or .qdpx if it already exists.")
    ] = False,
    verbose: Verbose = 0,
    quiet: Quiet = False,
) -> None:
    """Write the segments whose hand coding would teach the fine-tuned coder most."""
    _setup_logging(verbose, quiet)
    csv_target = out or (run_dir / "suggestions.csv" if qdpx is None else None)

    def go() -> list[Path]:
        from themekit.qda.folder import export_suggestions_qdpx
        from themekit.rundir import check_export_target
        from themekit.themes.finetune import coder_classes
        from themekit.themes.suggest import suggest as suggest_segments

        if csv_target is not None:
            check_export_target(csv_target, suffix=".csv", option="--out", force=force)
        if qdpx is not None:
            check_export_target(qdpx, suffix=".qdpx", option="--qdpx", force=force)
        table = suggest_segments(run_dir, n)
        written = []
        if csv_target is not None:
            table.to_csv(csv_target, index=False)
            written.append(csv_target)
        if qdpx is not None:
            ids = [str(v) for v in table["segment_id"]]
            written.append(export_suggestions_qdpx(run_dir, ids, coder_classes(run_dir), qdpx))
        return written

    for path in _guard(go):
        out_console.print(str(path), highlight=False, soft_wrap=True)


@app.command()
def code(
    run_dir: Annotated[Path, typer.Argument(help="A run folder with a fine-tuned coder.")],
    transcripts: Annotated[Path, typer.Argument(help="New transcripts: file, folder or glob.")],
    out: Annotated[
        Path | None,
        typer.Option("--out", help="CSV to write (default: RUN/codes-<transcripts name>.csv)."),
    ] = None,
    force: Annotated[
        bool, typer.Option("--force", help="Replace the CSV if it already exists.")
    ] = False,
    verbose: Verbose = 0,
    quiet: Quiet = False,
) -> None:
    """Code new sessions with the coder a semi-supervised (finetune) run saved."""
    _setup_logging(verbose, quiet)

    def table() -> pd.DataFrame:
        from themekit.themes.semisupervised import code_sessions

        return code_sessions(run_dir, transcripts)

    _write_table(out or run_dir / f"codes-{transcripts.stem or 'new'}.csv", table, force=force)


def _write_table(target: Path, make: Callable[[], pd.DataFrame], *, force: bool) -> None:
    """Check ``target`` (a new .csv, or ``--force``) before the work, then write the table ``make``
    builds and print its path; user mistakes exit 2 as everywhere else."""

    def go() -> Path:
        from themekit.rundir import check_export_target

        check_export_target(target, suffix=".csv", option="--out", force=force)
        make().to_csv(target, index=False)
        return target

    out_console.print(str(_guard(go)), highlight=False, soft_wrap=True)


@cache_app.command("show")
def cache_show(
    cache_dir: Annotated[
        Path | None,
        typer.Option(
            "--dir",
            help="Cache folder (default: $THEMEKIT_CACHE, else $XDG_CACHE_HOME/themekit, else ~/.cache/themekit).",
        ),
    ] = None,
) -> None:
    """Show what the embedding cache holds."""

    def go() -> dict[str, Any]:
        from themekit.embed import cache_info, default_cache_dir

        return cache_info(cache_dir or default_cache_dir())

    info = _guard(go)
    import json

    out_console.print_json(json.dumps(info, default=str))


@cache_app.command("clear")
def cache_clear(
    cache_dir: Annotated[Path | None, typer.Option("--dir", help="Cache folder.")] = None,
    embedder: Annotated[
        str | None, typer.Option("--embedder", help="Only this embedder id.")
    ] = None,
) -> None:
    """Delete cached embeddings (all, or one embedder's)."""

    def go() -> int:
        from themekit.embed import clear_cache, default_cache_dir

        return clear_cache(cache_dir or default_cache_dir(), embedder)

    n = _guard(go)
    out_console.print(f"removed {n} cache file(s)")


def main() -> None:
    try:
        app()
    except SystemExit:
        raise
    sys.exit(0)


if __name__ == "__main__":  # pragma: no cover
    main()
