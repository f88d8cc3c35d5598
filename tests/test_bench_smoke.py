"""The benchmark runs end to end: ``bench/run.py --smoke`` in a subprocess (no timing checked).

Timings belong to the bench, never to the tests: this only proves that every row of the table
is measured (or skipped with a reason) and that the JSON has the shape the README promises, so
the bench does not rot while nobody runs it.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
ROWS = ("search", "keystroke", "echo", "first", "memory", "import", "thumbnail", "preview")


def test_bench_smoke_measures_every_row(tmp_path: Path) -> None:
    out = tmp_path / "bench.json"
    done = subprocess.run(
        [
            sys.executable,
            str(ROOT / "bench" / "run.py"),
            "--smoke",
            "--work",
            str(tmp_path / "work"),
            "--json",
            str(out),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=ROOT,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert "| figure | measured | floor | ratio | goal | met? |" in done.stdout
    report = json.loads(out.read_text(encoding="utf-8"))
    assert report["smoke"] is True
    kinds = {row["id"].split("-")[0] for row in report["rows"]}
    assert set(ROWS) <= kinds
    # the 1m scaling path (streamed synthetic history, search rows only) at its tiny stand-in
    scaling = [row for row in report["rows"] if row["id"] == "search-smoke-1m"]
    assert len(scaling) == 1 and scaling[0]["measured"] is not None, scaling
    assert report["scaling"] == ["smoke-1m"]
    assert report["builds"]["smoke-1m"]["added"] == 1000
    for row in report["rows"]:
        assert set(row) >= {"id", "figure", "measured", "floor", "ratio", "goal", "met", "note"}
        # every row is measured, or says why not (a pty may be missing: skipped, with a reason)
        assert row["measured"] is not None or row["note"].startswith("skipped"), row


def test_bench_says_in_one_sentence_when_the_corpus_is_missing(tmp_path: Path) -> None:
    done = subprocess.run(
        [
            sys.executable,
            str(ROOT / "bench" / "run.py"),
            "--corpus",
            str(tmp_path / "nowhere.txt.gz"),
            "--work",
            str(tmp_path / "work"),
        ],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
    )
    assert done.returncode == 2
    assert "nowhere.txt.gz is missing" in done.stderr
    assert "Traceback" not in done.stderr
