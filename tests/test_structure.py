"""The package's structure: no import cycle (lazy and type-checking imports included), and no
function or module over the size limits beyond the temporary allow-list
(``scripts/check_structure.py``)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

from .conftest import REPO


def _check_structure() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "check_structure", REPO / "scripts" / "check_structure.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def test_themekit_has_no_import_cycle_and_no_oversized_code(capsys) -> None:
    check = _check_structure()
    graph = check.import_graph(check.package_modules())
    assert check.cycles(graph) == []
    assert "themekit.result" in graph["themekit.report"]  # reports import the result ...
    assert "themekit.pipeline" not in graph["themekit.report"]  # ... not the pipeline
    assert check.main(["--quiet"]) == 0, capsys.readouterr().out


def test_the_check_finds_lazy_and_type_checking_cycles_and_long_functions(tmp_path: Path) -> None:
    check = _check_structure()
    pkg = tmp_path / "pkg"
    (pkg / "sub").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "sub" / "__init__.py").write_text("from .c import C\n")
    (pkg / "a.py").write_text("def f():\n    from pkg.b import g\n    return g\n")  # lazy
    (pkg / "b.py").write_text(
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from pkg import a\n"
    )
    (pkg / "sub" / "c.py").write_text(
        "from ..a import f\n\nclass C:\n    def m(self):\n" + "        x = 1\n" * 130
    )
    (pkg / "d.py").write_text("import pkg.sub.c\n")
    modules = check.package_modules(tmp_path, "pkg")
    graph = check.import_graph(modules)
    assert graph["pkg.sub"] == {"pkg.sub.c"} and graph["pkg.sub.c"] == {"pkg.a"}
    assert graph["pkg.d"] == {"pkg.sub.c"}
    assert check.cycles(graph) == [["pkg.a", "pkg.b"]]
    assert check.long_functions(modules) == [("pkg.sub.c.C.m", 131)]
