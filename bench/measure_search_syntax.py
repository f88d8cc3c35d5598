"""The search operators on a real history: ``tag:x word`` and friends against ``word`` alone.

    PYTHONPATH=. python bench/measure_search_syntax.py DB [--tagged 1000] [--queries 200]

Works on a copy of DB (a history ``bench/run.py`` built, e.g.
``$TMPDIR/dalletui-bench/37k-v9/home/dalletui.db``): tags ``x`` on ``--tagged`` random prompts,
puts as many in the collection "c" (half as prompts, half through an image each), stars as
many, then times History's call (page of 100 + capped count, as ``measure_search``) for each
query form over the same words, and prints p50 / p95 / max in milliseconds.
"""

from __future__ import annotations

import argparse
import random
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import measure_search  # noqa: E402
from stats import summary  # noqa: E402

FORMS = {
    "word": "{w}",
    "tag:x word": "tag:x {w}",
    "word tag:x": "{w} tag:x ",
    "-tag:x word": "-tag:x {w}",
    "in:c word": "in:c {w}",
    "is:fav word": "is:fav {w}",
    "tag:x (alone)": "tag:x ",
    "after:7d word": "after:30d {w}",
}


def organize(db, tagged: int, seed: int = 13) -> None:  # type: ignore[no-untyped-def]
    from dalletui.storage.models import (
        Collection,
        CollectionItem,
        Generation,
        Prompt,
        PromptTag,
        Tag,
    )

    rng = random.Random(seed)
    ids = [row_id for (row_id,) in Prompt.select(Prompt.id).tuples()]
    chosen = rng.sample(ids, min(tagged, len(ids)))
    with db.write():
        tag = Tag.create(name="x", name_key="x")
        rows = [(pid, tag.id) for pid in chosen]
        PromptTag.insert_many(rows, [PromptTag.prompt, PromptTag.tag]).execute()
        collection = Collection.create(name="c", name_key="c")
        half = len(chosen) // 2
        for position, pid in enumerate(chosen[:half]):
            CollectionItem.create(collection=collection, position=position, prompt=pid)
        for position, pid in enumerate(chosen[half:], start=half):
            [generation] = db.create_generations(
                Prompt.get_by_id(pid),
                1,
                provider="offline",
                model="gpt-image-2",
                size="1024x1024",
                quality="auto",
                output_format="png",
            )
            Generation.update(status="succeeded").where(Generation.id == generation.id).execute()
            CollectionItem.create(
                collection=collection, position=position, generation=generation.id
            )
        Prompt.update(is_favorite=True).where(Prompt.id.in_(rng.sample(ids, tagged))).execute()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("db", type=Path)
    parser.add_argument("--tagged", type=int, default=1000)
    parser.add_argument("--queries", type=int, default=200)
    args = parser.parse_args(argv)

    from dalletui.storage import DatabaseManager, PromptQuery
    from dalletui.storage.models import PromptTag

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "dalletui.db"
        shutil.copy(args.db, path)
        db = DatabaseManager(path).open()
        try:
            organize(db, args.tagged)
            lines = [t for (t,) in db.db.execute_sql("SELECT text FROM prompts").fetchall()]
            words = measure_search.corpus_queries(lines, args.queries)
            print(f"{len(lines):,} prompts, {PromptTag.select().count():,} tagged x")
            print(f"{'form':<16} {'p50':>7} {'p95':>7} {'max':>7}  (ms, page 100 + count)")
            for label, form in FORMS.items():
                times = []
                for word in words:
                    query = PromptQuery.from_search(form.format(w=word), limit=100)
                    start = time.perf_counter()
                    db.search_prompts(query)
                    db.count_prompts_capped(query)
                    times.append((time.perf_counter() - start) * 1000)
                s = summary(times)
                print(f"{label:<16} {s['p50']:>7.2f} {s['p95']:>7.2f} {s['max']:>7.2f}")
        finally:
            db.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
