"""The histories the benchmark runs on, built once from the prompt corpus and cached.

A history is a dalletui home (``<work>/<name>-v<schema>/home``) with a database made by the
code under test (``DatabaseManager.import_prompts``), so the old code and the new each get
their own copy (a newer schema is refused by older code). Names: ``37k`` (the corpus's 105k
lines imported as they are), ``100k`` (its distinct lines, then suffixed copies
``f"{line} #{i}"`` until 100,000), ``200`` (the small history memory is compared against) and
``smoke`` (300 prompts, for ``--smoke``). ``1m`` is the synthetic history for scaling: the
distinct lines suffixed the same way until 1,000,000 distinct prompts, streamed into
``import_prompts`` (a generator, so memory stays bounded); ``smoke-1m`` is its stand-in for
``--smoke`` (the same generator and path, 1,000 prompts). ``million_file`` is another thing: a
synthetic 1M-line file (duplicates kept) that only the import row reads.
"""

from __future__ import annotations

import gzip
import json
import random
import shutil
import time
from collections.abc import Iterable, Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_CORPUS = ROOT.parent / "shared" / "data" / "sd-discord-prompts.txt.gz"

_WORDS = [
    "portrait",
    "cat",
    "dog",
    "castle",
    "forest",
    "city",
    "night",
    "neon",
    "cyberpunk",
    "fox",
    "dragon",
    "ocean",
    "sunset",
    "mountain",
    "robot",
    "astronaut",
    "painting",
    "watercolor",
    "oil",
    "detailed",
    "cinematic",
    "lighting",
    "moody",
    "trending",
    "artstation",
    "unreal",
    "engine",
    "octane",
    "render",
    "highly",
    "intricate",
    "fantasy",
    "concept",
    "art",
    "girl",
    "boy",
    "old",
    "man",
    "woman",
    "flowers",
    "garden",
    "river",
    "bridge",
    "tower",
    "ruins",
    "desert",
    "snow",
    "rain",
    "fog",
    "golden",
    "hour",
    "studio",
    "ghibli",
    "anime",
    "photo",
    "realistic",
    "4k",
    "8k",
    "sharp",
    "focus",
    "bokeh",
    "lens",
]


class CorpusMissing(Exception):
    """The prompt corpus file is not there (the message says where it was looked for)."""


def read_corpus(path: Path | None) -> list[str]:
    """The corpus lines (``.gz`` or plain text), or CorpusMissing with one sentence."""
    path = path or DEFAULT_CORPUS
    if not path.is_file():
        raise CorpusMissing(
            f"The prompt corpus {path} is missing: pass --corpus FILE (one prompt a line, "
            ".gz accepted), or run --smoke, which uses synthetic prompts without it."
        )
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", encoding="utf-8", errors="replace") as handle:  # type: ignore[operator]
        return handle.read().splitlines()


def synthetic_lines(count: int, seed: int = 13) -> list[str]:
    """``count`` prompt-like lines made of common words (when there is no corpus)."""
    rng = random.Random(seed)
    return [
        " ".join(rng.choice(_WORDS) for _ in range(rng.randint(4, 14))) + f" {n}"
        for n in range(count)
    ]


def distinct(lines: list[str]) -> list[str]:
    """Non-blank lines, first occurrence kept, in order."""
    seen: dict[str, None] = {}
    for line in lines:
        text = line.strip()
        if text and text not in seen:
            seen[text] = None
    return list(seen)


def iter_distinct_to(lines: list[str], total: int) -> Iterator[str]:
    """The distinct lines, then suffixed copies ``f"{line} #{i}"``, until ``total`` lines
    (all distinct), yielded one by one: only the distinct base is held in memory."""
    base = distinct(lines) or synthetic_lines(1000)
    n = 0
    i = 0
    while True:
        for line in base:
            if n >= total:
                return
            yield line if i == 0 else f"{line} #{i}"
            n += 1
        i += 1


def distinct_to(lines: list[str], total: int) -> list[str]:
    """The distinct lines, then suffixed copies ``f"{line} #{i}"`` until ``total``."""
    return list(iter_distinct_to(lines, total))


#: The synthetic scaling histories (streamed, search rows only) and their distinct prompts.
SCALING = {"1m": 1_000_000, "smoke-1m": 1_000}


def lines_for(name: str, corpus: list[str]) -> Iterable[str]:
    """The lines imported to build the history ``name`` (a stream for the scaling ones)."""
    if name == "37k":
        return corpus
    if name == "100k":
        return distinct_to(corpus, 100_000)
    if name in SCALING:
        return iter_distinct_to(corpus, SCALING[name])
    if name == "200":
        return distinct(corpus)[:200]
    if name == "smoke":
        return distinct(corpus)[:300]
    raise ValueError(f"unknown history {name!r}")


def iter_million(corpus: list[str], total: int = 1_000_000) -> Iterator[str]:
    """A synthetic 1M-line file's lines: the corpus over and over, each pass suffixed."""
    base = [line for line in corpus if line.strip()] or synthetic_lines(1000)
    n = 0
    round_ = 0
    while n < total:
        for line in base:
            if n >= total:
                return
            yield line if round_ == 0 else f"{line} #{round_}"
            n += 1
        round_ += 1


def million_file(work: Path, corpus: list[str]) -> Path:
    """The synthetic 1M-line file (gzip), written once into ``work``."""
    path = work / "million-lines.txt.gz"
    if not path.exists():
        tmp = path.with_suffix(".tmp")
        with gzip.open(tmp, "wt", encoding="utf-8", compresslevel=1) as handle:
            for line in iter_million(corpus):
                handle.write(line + "\n")
        tmp.replace(path)
    return path


def schema_version() -> int:
    """The schema the code under test writes (part of the cache key)."""
    from dalletui.storage import database

    return int(database.code_schema_version())


def history_home(work: Path, name: str, corpus: list[str]) -> Path:
    """A dalletui home holding the history ``name``, built now unless already cached."""
    from dalletui.storage import DatabaseManager

    folder = work / f"{name}-v{schema_version()}"
    home = folder / "home"
    done = folder / "built"
    if done.exists():
        return home
    shutil.rmtree(folder, ignore_errors=True)
    home.mkdir(parents=True)
    start = time.perf_counter()
    db = DatabaseManager(home / "dalletui.db").open()
    try:
        summary = db.import_prompts(lines_for(name, corpus))
        db.db.execute_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        db.close()
    seconds = time.perf_counter() - start
    added = getattr(summary, "added", None)
    done.write_text(json.dumps({"seconds": round(seconds, 2), "added": added}) + "\n")
    return home


def build_info(work: Path, name: str) -> dict[str, float | int | None]:
    """How long building the cached history ``name`` took and how many prompts it added
    (empty for a history cached before this was recorded)."""
    done = work / f"{name}-v{schema_version()}" / "built"
    try:
        info = json.loads(done.read_text())
    except (OSError, ValueError):
        return {}
    return info if isinstance(info, dict) else {}


def copy_home(home: Path, dest: Path) -> Path:
    """A throwaway copy of a cached home (for runs that may write to it)."""
    if dest.exists():
        shutil.rmtree(dest)
    shutil.copytree(home, dest)
    return dest
