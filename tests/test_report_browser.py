"""The demo run's HTML report in headless Chromium: no console errors, every section present."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
DEMO_CONFIG = REPO / "configs" / "demo.yaml"
SCRIPT = REPO / "scripts" / "render_report.py"


@pytest.mark.slow
def test_demo_report_renders_in_chromium(tmp_path: Path) -> None:
    if not any(shutil.which(c) for c in ("chromium", "chromium-browser", "google-chrome")):
        pytest.skip("Chromium is not installed (apt-get install -y chromium)")
    import themekit
    from themekit.report_html import SECTION_IDS

    result = themekit.run(
        DEMO_CONFIG,
        overrides=["output.name=demo", "evaluation.bootstrap=100"],
        out_dir=tmp_path / "runs",
    )
    shot = tmp_path / "out" / "report.png"  # outside the repository, so never in git
    proc = subprocess.run(
        [sys.executable, str(SCRIPT), str(result.path), "--out", str(shot), "--json"],
        capture_output=True, text=True, timeout=180,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout + proc.stderr
    info = json.loads(proc.stdout)
    assert info["console_errors"] == []
    assert info["external_requests"] == []
    assert info["sections_present"] == list(SECTION_IDS)
    assert info["figures"] and info["figures_not_drawn"] == []
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert shot.stat().st_size > 50_000
