"""Two dalletui processes at once: a `generate -n 4` loop beside an import of 1M lines.

Measured before: 7 of 12 generate runs failed with "database is locked" and 24 images the API
had returned were deleted. Now every generate succeeds and every image is on disk with its row.
Traffic goes only to the fake OpenAI server on 127.0.0.1.
"""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

from tests.fakes import FakeOpenAIServer

IMPORT_LINES = 1_000_000
MAX_GENERATES = 12


def _env(home: Path, server: FakeOpenAIServer) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        DALLETUI_HOME=str(home),
        OPENAI_API_KEY="sk-test-two-processes",
        OPENAI_BASE_URL=server.base_url,
        DALLETUI_PROVIDER="openai",
    )
    return env


def _dalletui(*args: str) -> list[str]:
    return [sys.executable, "-m", "dalletui", *args]


def test_generate_loop_beside_a_million_line_import(
    tmp_path: Path, fake_openai: FakeOpenAIServer
) -> None:
    home = tmp_path / "home"
    env = _env(home, fake_openai)
    source = tmp_path / "million.txt"
    with source.open("w", encoding="utf-8") as handle:
        for i in range(IMPORT_LINES):
            handle.write(f"imported prompt {i} of a lighthouse at dusk, style {i % 97}\n")
    # One generate first, so the database exists and both processes start on the same schema.
    first = subprocess.run(
        _dalletui("generate", "warm up", "-n", "1", "--quality", "low"),
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert first.returncode == 0, first.stderr

    importer = subprocess.Popen(
        _dalletui("import-prompts", str(source)),
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    runs: list[subprocess.CompletedProcess[str]] = []
    seconds: list[float] = []
    started = time.monotonic()
    try:
        while importer.poll() is None and len(runs) < MAX_GENERATES:
            run_started = time.monotonic()
            runs.append(
                subprocess.run(
                    _dalletui("generate", f"lighthouse {len(runs)}", "-n", "4", "--quality", "low"),
                    env=env,
                    capture_output=True,
                    text=True,
                    timeout=180,
                )
            )
            seconds.append(time.monotonic() - run_started)
        out, err = importer.communicate(timeout=600)
    finally:
        if importer.poll() is None:
            importer.kill()
    elapsed = time.monotonic() - started
    print(
        f"\nimport of {IMPORT_LINES:,} lines: {elapsed:.1f} s; {len(runs)} generate -n 4 runs "
        f"beside it, slowest {max(seconds, default=0):.1f} s, "
        f"{sum(r.returncode != 0 for r in runs)} failed"
    )
    assert importer.returncode == 0, err
    assert "1,000,000 lines" in out
    failed = [r.stderr for r in runs if r.returncode != 0]
    assert not failed, failed
    assert len(runs) >= 2, f"the import finished too fast ({elapsed:.1f} s) to overlap"

    conn = sqlite3.connect(home / "dalletui.db")
    try:
        rows = conn.execute(
            "SELECT status, file_path FROM generations WHERE prompt_id IN "
            "(SELECT id FROM prompts WHERE text LIKE 'lighthouse %')"
        ).fetchall()
        (prompts,) = conn.execute("SELECT COUNT(*) FROM prompts").fetchone()
        (journal,) = conn.execute("SELECT COUNT(*) FROM import_journal").fetchone()
    finally:
        conn.close()
    assert len(rows) == 4 * len(runs)
    assert {status for status, _ in rows} == {"succeeded"}
    assert all(Path(path).is_file() for _, path in rows)
    assert len(fake_openai.generation_requests) == 1 + len(runs)  # nothing sent twice
    assert prompts == IMPORT_LINES + 1 + len(runs)
    assert journal == 0
    on_disk = [p for p in (home / "images").rglob("*.png") if p.parent.name != "thumbs"]
    assert len(on_disk) == 1 + 4 * len(runs)
