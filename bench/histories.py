"""The histories the benchmark runs on, built once from the prompt corpus and cached.

A history is a dalletui home (``<work>/<name>-v<schema>/home``) with a database made by the
code under test (``DatabaseManager.import_prompts``), so the old code and the new each get
their own copy (a newer schema is refused by older code). Names: ``37k`` (the corpus's 105k
lines imported as they are), ``100k`` (its distinct lines, then suffixed copies
``f"{line} #{i}"`` until 100,000), ``200`` (the small history memory is compared against) and
``smoke`` (300 prompts, for ``--smoke``). ``1m`` is a synthetic 1M-line file (only the import
row reads it).
"""

from __future__ import annotations

import gzip
import random
import shutil
from collections.abc import Iterator
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


def distinct_to(lines: list[str], total: int) -> list[str]:
    """The distinct lines, then suffixed copies ``f"{line} #{i}"`` until ``total``."""
    base = distinct(lines)
    out = base[:total]
    i = 1
    while len(out) < total:
        for line in base:
            if len(out) >= total:
                break
            out.append(f"{line} #{i}")
        i += 1
    return out


def lines_for(name: str, corpus: list[str]) -> list[str]:
    """The lines imported to build the history ``name``."""
    if name == "37k":
        return corpus
    if name == "100k":
        return distinct_to(corpus, 100_000)
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
    db = DatabaseManager(home / "dalletui.db").open()
    try:
        db.import_prompts(lines_for(name, corpus))
        db.db.execute_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        db.close()
    done.write_text("ok\n")
    return home


def copy_home(home: Path, dest: Path) -> Path:
    """A throwaway copy of a cached home (for runs that may write to it)."""
    if dest.exists():
        shutil.rmtree(dest)
    shutil.copytree(home, dest)
    return dest
