"""Start-up against fake terminals on a real pty: kitty, xterm (vt340), WezTerm, tmux 3.3 and
3.4, screen and a dumb terminal, each answering after 0, 20 and 300 ms.

For each: the chosen mode is right, deciding takes at most the cap, textual-image sends no
queries of its own, and no reply reaches the app as key events. The 21 runs go in parallel
(small processes; about 10 s on two cores).
"""

from __future__ import annotations

import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from dalletui.tui.graphics import backend, detect
from tests.graphics_harness.fake_terminal import BY_NAME, PROFILES
from tests.graphics_harness.pty_run import Run, run_child

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="needs a POSIX pty")

DELAYS = {"0ms": 0.0, "20ms": 0.02, "300ms": 0.3}
SLACK = 0.6  # scheduling noise on a busy two-core CI machine


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[tuple[str, str], Run]:
    jobs = [(p.name, label) for p in PROFILES for label in DELAYS]
    base = tmp_path_factory.mktemp("pty")

    def one(job: tuple[str, str]) -> Run:
        name, label = job
        return run_child(BY_NAME[name], DELAYS[label], base / f"{name}-{label}")

    with ThreadPoolExecutor(max_workers=4) as pool:
        return dict(zip(jobs, pool.map(one, jobs), strict=True))


@pytest.mark.parametrize("label", list(DELAYS))
@pytest.mark.parametrize("name", [p.name for p in PROFILES])
def test_start_up(runs: dict[tuple[str, str], Run], name: str, label: str) -> None:
    run = runs[(name, label)]
    report = run.report
    assert run.returncode == 0, run.output[-2000:]
    assert report["mode"] == run.profile.expected, report.get("reasons")
    assert report["keys"] == [], f"replies leaked into the app as keys: {report['keys']}"
    assert report["probe_seconds"] <= detect.QUERY_CAP + SLACK
    if run.profile.da1 is not None:
        assert report["probe_seconds"] <= run.delay + SLACK
    da1_queries = [q for q in run.queries if q in (b"\x1b[c", b"\x1b[0c")]
    assert len(da1_queries) == (0 if name == "dumb" else 1), run.queries  # textual-image: none
    if report["mode"] == "kitty":
        assert report["color_system"] == "truecolor"


@pytest.mark.skipif(backend.version() >= (0, 13), reason="0.13+ waits up to 2 s for DA1 itself")
def test_control_naive_textual_image_import_leaks_keys(tmp_path: Path) -> None:
    """Without our detection, textual-image 0.12 gives up after 0.1 s and replies become keys."""
    run = run_child(BY_NAME["xterm-vt340"], 0.3, tmp_path, extra_env={"HARNESS_PROBE": "raw"})
    assert run.returncode == 0
    assert run.report["keys"], "the harness should see the leaked replies"
