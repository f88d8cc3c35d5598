"""Folding near-duplicate prompts into families, first run and again, on a copy of a history.

``first_run`` is what History's background pass does the first time on that history (every
prompt's ``family_key`` NULL): read, fold, write in batches. Its floor is the part any folding
must do: read every prompt's text and split it into casefolded words. ``exact`` is the number
of families by the exact key alone (case, space, punctuation, word order), ``families`` after
joining keys one word apart.
"""

from __future__ import annotations

import re
import time
from pathlib import Path
from typing import Any


def first_run(home: Path) -> dict[str, Any]:
    from dalletui.storage import DatabaseManager

    try:
        from dalletui.storage import folding
    except ImportError:
        return {"missing": True}
    db = DatabaseManager(home / "dalletui.db").open()
    try:
        from dalletui.storage.models import Prompt

        if not hasattr(db, "compute_families"):
            return {"missing": True}
        start = time.perf_counter()
        cpu = time.process_time()
        written = db.compute_families()
        seconds = time.perf_counter() - start
        cpu_seconds = time.process_time() - cpu
        start = time.perf_counter()
        db.compute_families()
        again = time.perf_counter() - start
        summary = db.family_summary()
        start = time.perf_counter()
        words = re.compile(r"\w+")
        texts = [t for (t,) in Prompt.select(Prompt.text).tuples()]
        split = [words.findall(t.casefold()) for t in texts]
        floor = time.perf_counter() - start
        exact = len({folding.fold_key(t) for t in texts})
        return {
            "seconds": seconds,
            "cpu_seconds": cpu_seconds,
            "again": again,
            "floor": floor,
            "written": written,
            "prompts": summary.prompts,
            "families": summary.families,
            "exact": exact,
            "words": sum(map(len, split)),
        }
    finally:
        db.close()
