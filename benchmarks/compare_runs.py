"""Whether two kept runs of ``end_to_end.py`` / ``memory_copies.py`` wrote the same outputs.

Usage:
    python benchmarks/compare_runs.py BEFORE/run-10000 AFTER/run-10000

Each argument is a folder that ``--keep`` left (``out/<run folder>`` and, for end_to_end.py,
``cache``). Every file of the run folder is compared byte for byte; where the bytes differ it is
compared again with the kept folder's path, the run folder's name, the creation time and the
stage times masked (``manifest.json`` as JSON, its timings dropped). The embedding caches (the
vectors' shards and ``meta.json``) are compared byte for byte. Prints one line per file and
``ALL SAME`` or ``NOT ALL SAME``; exit status 0 only when all are the same.
"""

from __future__ import annotations

import argparse
import json
import re
from pathlib import Path

TIMINGS = ("stage_seconds", "created", "timings")


def _run_folder(root: Path) -> Path:
    return sorted((root / "out").iterdir())[-1]


def _masked(text: str, root: Path) -> str:
    text = text.replace(str(root), "ROOT")
    text = re.sub(r"job-\d{8}-\d{6}", "job-T", text)
    text = re.sub(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+0000", "TIME", text)
    return re.sub(r"Time per stage( \(s\))?:[^\n<]*", "Time per stage", text)


def compare(a_root: Path, b_root: Path) -> bool:
    a, b = _run_folder(a_root), _run_folder(b_root)
    ok = True
    for name in sorted({p.name for p in a.iterdir()} | {p.name for p in b.iterdir()}):
        pa, pb = a / name, b / name
        if not (pa.is_file() and pb.is_file()):
            print(f"DIFF {name} (in one run only)")
            ok = False
            continue
        if pa.read_bytes() == pb.read_bytes():
            print(f"same {name} (bytes)")
            continue
        if name == "manifest.json":
            ma = json.loads(_masked(pa.read_text(encoding="utf-8"), a_root))
            mb = json.loads(_masked(pb.read_text(encoding="utf-8"), b_root))
            keys = sorted(
                k for k in set(ma) | set(mb) if k not in TIMINGS and ma.get(k) != mb.get(k)
            )
            same, how = not keys, f"(timings dropped){' keys: ' + ', '.join(keys) if keys else ''}"
        else:
            ta = _masked(pa.read_text(encoding="utf-8"), a_root)
            same = ta == _masked(pb.read_text(encoding="utf-8"), b_root)
            how = "(paths and times masked)"
        print(f"{'same' if same else 'DIFF'} {name} {how}")
        ok &= same
    ca, cb = a_root / "cache", b_root / "cache"
    if ca.is_dir() and cb.is_dir():
        fa = sorted(p.relative_to(ca) for p in ca.rglob("*") if p.is_file())
        fb = sorted(p.relative_to(cb) for p in cb.rglob("*") if p.is_file())
        diff = [str(p) for p in fa if p not in fb or (ca / p).read_bytes() != (cb / p).read_bytes()]
        print(f"cache: {len(fa)} / {len(fb)} files, differing: {diff[:10] or 'none'}")
        ok &= fa == fb and not diff
    print("ALL SAME" if ok else "NOT ALL SAME")
    return ok


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("before", type=Path)
    ap.add_argument("after", type=Path)
    args = ap.parse_args(argv)
    return 0 if compare(args.before, args.after) else 1


if __name__ == "__main__":
    raise SystemExit(main())
