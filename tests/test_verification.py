"""The verification script itself runs clean on a fresh temporary folder."""

from __future__ import annotations

import subprocess
import sys


def test_verify_phase3_passes() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "verification.verify_phase3"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    lines = [line for line in result.stdout.splitlines() if line.startswith(("PASS", "FAIL"))]
    assert lines and all(line.startswith("PASS") for line in lines), result.stdout
