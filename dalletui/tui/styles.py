"""Where the TCSS files are, for the app and for each screen's ``CSS_PATH``.

Each screen names the files it needs, and Textual reads them the first time that screen is
shown, so the first frame parses only the app's and the first screen's styles. Paths are
absolute: Textual resolves a relative ``CSS_PATH`` against the module that defines the screen,
and the files live in ``dalletui/styles`` in the wheel but in ``styles/`` in a source checkout.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path


@cache
def styles_dir() -> Path:
    """``styles/`` inside the wheel (dalletui/styles), or at the top of a source checkout."""
    here = Path(__file__).resolve()
    packaged = here.parents[1] / "styles"
    return packaged if packaged.is_dir() else here.parents[2] / "styles"


def css_paths(*names: str) -> list[str | Path]:
    """The files ``names`` (``"history.tcss"``) as absolute paths, in that order."""
    folder = styles_dir()
    return [folder / name for name in names]


def all_stylesheets() -> list[Path]:
    """Every TCSS file, ``app.tcss`` first (what the app once loaded up front; tests compare)."""
    folder = styles_dir()
    others = sorted(p for p in folder.glob("*.tcss") if p.name != "app.tcss")
    return [folder / "app.tcss", *others]
