"""The layers hold: checked in fresh interpreters, like harlequin's import-hygiene tests."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "dalletui"


def imported_modules(folder: Path) -> dict[Path, set[str]]:
    """Every module name each file imports (top level or inside functions)."""
    found: dict[Path, set[str]] = {}
    for path in folder.rglob("*.py"):
        names: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                names.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names.add(node.module)
        found[path] = names
    return found


@pytest.mark.parametrize(
    ("layer", "forbidden"),
    [
        (
            "storage",
            ("textual", "openai", "dalletui.generation", "dalletui.services", "dalletui.tui"),
        ),
        ("generation", ("textual", "dalletui.services", "dalletui.tui")),
        ("services", ("textual", "openai", "dalletui.tui")),
        ("tui", ("openai", "peewee", "playhouse", "dalletui.storage", "textual_image")),
    ],
)
def test_layers_import_only_downwards(layer: str, forbidden: tuple[str, ...]) -> None:
    offenders = []
    for path, names in imported_modules(PACKAGE / layer).items():
        if layer == "tui" and "graphics" in path.parts:
            names = {
                n for n in names if not n.startswith("textual_image")
            }  # the one allowed importer
        for name in names:
            if any(name == bad or name.startswith(bad + ".") for bad in forbidden):
                offenders.append(f"{path.relative_to(PACKAGE)} imports {name}")
    assert not offenders, offenders


def run_python(code: str) -> str:
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


def test_backend_never_loads_textual() -> None:
    out = run_python(
        "import sys, dalletui.services.context, dalletui.services.generation, dalletui.commands;"
        "print(any(m == 'textual' or m.startswith('textual.') for m in sys.modules))"
    )
    assert out == "False"


def test_building_the_app_leaves_openai_unloaded(tmp_path: Path) -> None:
    out = run_python(
        "import sys, pathlib\n"
        "from dalletui.config import Settings\n"
        "from dalletui.services.context import open_services\n"
        "from dalletui.tui.app import make_app\n"
        f"services = open_services(Settings(home=pathlib.Path({str(tmp_path)!r})))\n"
        "make_app(services)\n"
        "print('openai' in sys.modules)\n"
    )
    assert out == "False"


def test_cli_history_does_not_load_openai_or_textual(tmp_path: Path) -> None:
    out = run_python(
        "import sys\n"
        "from dalletui.cli import main\n"
        f"main(['--home', {str(tmp_path)!r}, 'history'])\n"
        "print('openai' in sys.modules, 'textual' in sys.modules)\n"
    )
    assert out.endswith("False False")


def _runtime_imports(path: Path) -> set[str]:
    """Modules a file imports when it runs: ``if TYPE_CHECKING:`` blocks are left out."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    skipped: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            skipped.update(id(child) for stmt in node.body for child in ast.walk(stmt))
    names: set[str] = set()
    for node in ast.walk(tree):
        if id(node) in skipped:
            continue
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def test_the_command_line_goes_through_the_services() -> None:
    """Like the TUI, the CLI never opens storage itself: ``dalletui.cli*``, ``dalletui.commands*``
    and ``dalletui.doctor`` reach the database only through ``dalletui.services``."""
    files = [*PACKAGE.glob("cli*.py"), *PACKAGE.glob("commands*.py"), PACKAGE / "doctor.py"]
    assert PACKAGE / "cli.py" in files and PACKAGE / "commands.py" in files
    offenders = [
        f"{path.name} imports {name}"
        for path in files
        for name in sorted(_runtime_imports(path))
        if name in ("dalletui.storage", "peewee", "playhouse")
        or name.startswith(("dalletui.storage.", "peewee.", "playhouse."))
    ]
    assert not offenders, offenders
