"""Storage benchmark: import the 105k-prompt corpus through DatabaseManager, then time searches.

Usage: python bench/bench_storage.py [CORPUS] [--repeat N]
Prints medians over N runs (one import run; searches repeated). Never run as a test.
"""

from __future__ import annotations

import argparse
import gzip
import statistics
import tempfile
import time
from pathlib import Path

from dalletui.storage import DatabaseManager, PromptQuery

DEFAULT_CORPUS = (
    Path(__file__).resolve().parents[2] / "shared" / "data" / "sd-discord-prompts.txt.gz"
)
QUERIES = [
    ("first page, no search", PromptQuery()),
    ("first page, by use count", PromptQuery(order="uses")),
    ("word 'portrait'", PromptQuery(text="portrait", prefix_last=False)),
    ("common word 'the'", PromptQuery(text="the", prefix_last=False)),
    ("prefix 'cyb' (as typed)", PromptQuery(text="cyb")),
    ("prefix 'c' (one letter)", PromptQuery(text="c")),
    ("two words 'fox forest'", PromptQuery(text="fox forest", prefix_last=False)),
    ("phrase '\"trending on artstation\"'", PromptQuery(text='"trending on artstation"')),
    ("hostile 'NEAR(\"a\" -b'", PromptQuery(text='NEAR("a" -b')),
    ("emoji substring fallback", PromptQuery(text="🔥")),
    ("favourites only", PromptQuery(favorites_only=True)),
]


def median_ms(fn, repeat: int) -> float:  # noqa: ANN001
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("corpus", nargs="?", type=Path, default=DEFAULT_CORPUS)
    parser.add_argument("--repeat", type=int, default=21)
    args = parser.parse_args()
    with gzip.open(args.corpus, "rt", encoding="utf-8") as handle:
        lines = handle.read().splitlines()
    with tempfile.TemporaryDirectory() as tmp:
        db = DatabaseManager(Path(tmp) / "dalletui.db").open()
        start = time.perf_counter()
        used = db.import_prompts(lines).lines
        import_s = time.perf_counter() - start
        distinct = db.counts()["prompts"]
        for prompt in db.search_prompts(PromptQuery(limit=200)).items[::7]:
            db.set_favorite(prompt.id, True)
        size_mb = (Path(tmp) / "dalletui.db").stat().st_size / 1e6
        print(f"corpus: {len(lines):,} lines, {used:,} non-blank, {distinct:,} distinct prompts")
        print(
            f"import through DatabaseManager.import_prompts: {import_s:.2f} s "
            f"({used / import_s:,.0f} lines/s), database {size_mb:.1f} MB\n"
        )
        print(f"{'query':<38} {'page (ms)':>10} {'count (ms)':>11} {'matches':>8}")
        for label, query in QUERIES:
            page_ms = median_ms(lambda q=query: db.search_prompts(q), args.repeat)
            count_ms = median_ms(lambda q=query: db.count_prompts(q), args.repeat)
            matches = db.count_prompts(query)
            print(f"{label:<38} {page_ms:>10.2f} {count_ms:>11.2f} {matches:>8,}")
        cursor = None
        pages = 0
        start = time.perf_counter()
        while pages < 200:
            page = db.search_prompts(PromptQuery(limit=50, after=cursor))
            pages += 1
            cursor = page.next_cursor
            if cursor is None:
                break
        per_page = (time.perf_counter() - start) * 1000 / pages
        print(f"\nkeyset paging, 50 rows a page: {per_page:.2f} ms per page over {pages} pages")
        db.close()


if __name__ == "__main__":
    main()
