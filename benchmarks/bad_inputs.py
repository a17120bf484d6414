"""Peak memory and time of themekit on three small hostile inputs (issue #17, case 5).

    python benchmarks/bad_inputs.py [--keep DIR]

Makes, in a temporary folder: a 400-byte YAML "billion laughs" job file, a 1.5 MB .qdpx whose
one member unpacks to 1.5 GiB, and a 50 MB transcript on one line; runs the CLI on each
(``validate``, ``evaluate --codes``, ``run``) in a child process and prints its exit code,
wall time and peak resident memory (GNU ``/usr/bin/time``), next to ``themekit --help``
as the baseline (the cost of starting Python and importing themekit). Each must exit 2 in
under 10 s and 1 GB.
"""

from __future__ import annotations

import argparse
import os
import platform
import random
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

BOMB = "\n".join(
    ['a0: &a0 ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    + [f"a{i}: &a{i} [{','.join([f'*a{i - 1}'] * 9)}]" for i in range(1, 9)]
    + ["corpus: {path: *a8}"]
)


def measure(args: list[str], cwd: Path) -> tuple[int, float, float, str]:
    """Exit code, wall seconds, peak RSS (MB) and error line of ``themekit args``, measured by
    GNU time (``/usr/bin/time -f``: the child's own maximum resident set size)."""
    t0 = time.perf_counter()
    proc = subprocess.run(
        ["/usr/bin/time", "-f", "MAXRSS_KB %M", sys.executable, "-m", "themekit.cli", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        check=False,
    )
    wall = time.perf_counter() - t0
    lines = proc.stderr.strip().splitlines()
    peak = next((float(x.split()[1]) / 1024 for x in lines if x.startswith("MAXRSS_KB")), 0.0)
    message = next((x for x in lines if x.startswith("error")), "")
    return proc.returncode, wall, peak, message[:110]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--keep", type=Path, help="make the inputs here and keep them")
    ns = parser.parse_args()
    folder = ns.keep or Path(tempfile.mkdtemp(prefix="themekit-bad-"))
    folder.mkdir(parents=True, exist_ok=True)

    (folder / "bomb.yaml").write_text(BOMB, encoding="utf-8")
    with zipfile.ZipFile(folder / "bomb.qdpx", "w", compression=zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("project.qde", '<Project xmlns="urn:QDA-XML:project:1.0" name="x"/>')
        with zf.open("sources/big.txt", "w", force_zip64=True) as fh:
            block = b"\0" * (16 << 20)
            for _ in range(96):  # 1.5 GiB
                fh.write(block)
    rng = random.Random(0)
    words = "saya suka kumpulan ini kerana semua orang membantu the group helps me".split()
    with open(folder / "line.txt", "w", encoding="utf-8") as fh:
        fh.write("Aina:")
        for _ in range(50):  # 50 MB, written in 1 MB pieces
            fh.write(" ".join(rng.choice(words) for _ in range(200_000))[:1_000_000])
        fh.write("\n")
    small = "".join(
        f"A{i % 3}: {' '.join(rng.choice(words) for _ in range(8))} perkara{i}\n" for i in range(12)
    )
    (folder / "small.txt").write_text(small, encoding="utf-8")
    job = "corpus: {path: %s}\nembedding: {backend: tfidf}\noutput: {dir: runs, html: false}\n"
    (folder / "line.yaml").write_text(job % "line.txt", encoding="utf-8")
    (folder / "small.yaml").write_text(job % "small.txt", encoding="utf-8")
    code, *_ = measure(["run", "small.yaml", "--set", "output.name=r", "-q"], folder)
    if code != 0:
        sys.exit("could not make the run folder the zip bomb is evaluated against")

    print(f"CPU: {platform.processor() or platform.machine()}; load: {os.getloadavg()}")
    print(f"inputs: bomb.yaml {len(BOMB)} B, bomb.qdpx {(folder / 'bomb.qdpx').stat().st_size:,} B")
    print(f"{'case':<34}{'exit':>5}{'wall s':>9}{'peak MB':>9}  message")
    cases = [
        ("baseline: themekit --help", ["--help"]),
        ("YAML alias bomb (validate)", ["validate", "bomb.yaml"]),
        ("zip bomb .qdpx (evaluate --codes)", ["evaluate", "runs/r", "--codes", "bomb.qdpx"]),
        ("50 MB one-line transcript (run)", ["run", "line.yaml", "-q"]),
    ]
    for name, args in cases:
        code, wall, peak, msg = measure(args, folder)
        print(f"{name:<34}{code:>5}{wall:>9.1f}{peak:>9.0f}  {msg}")


if __name__ == "__main__":
    main()
