"""Near-duplicate prompts folded into families (issue 15).

Two steps, both pure Python and linear in the history:

1. **Exact key.** ``fold_key`` casefolds the text, drops punctuation, collapses whitespace and
   sorts the distinct words: prompts that differ only in case, spacing, punctuation, word order
   or a repeated word share it.
2. **One word apart.** Two keys join when their word sets differ by at most one word (one added,
   removed or replaced) and still share at least ``NEAR_CORE`` words. This is the deletion
   neighbourhood of the word set: each key of ``NEAR_CORE + 1`` words or more is registered
   under its own signature and under each "one word left out" signature, so keys one word apart
   meet in one dict without comparing pairs. A signature is the sum of the words' ``hash()``
   (a word left out is a subtraction), and every join is checked on the real word sets, so a
   hash collision can never join two prompts. Joins are transitive (union-find): a family is a
   chain of one-word steps.

Chosen by measuring both, in one prototype run on the same machine (tokenising included):
token-set Jaccard >= 0.8 with prefix filtering folded the 37,375 distinct corpus prompts into
25,226 families but took 1.3 s at 37k and 8.9 s at the 100k synthetic history (its candidate
pairs grow with the variants); this deletion neighbourhood took 0.9 s and 2.5 s (33k families).
``bench/run.py``'s fold rows give the figures of the code as it is.

A family's ``family_key`` is the exact key of its most-used member when it was first computed
(shortened with a digest when long), so all members share it and it never moves: a later pass
gives only the prompts whose key is still NULL a key, and a new prompt that joins a family
takes that family's key.
"""

from __future__ import annotations

import hashlib
import operator
import re
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from itertools import compress
from typing import NamedTuple

from peewee import Case, fn

from dalletui.storage.base import StoreBase, guarded
from dalletui.storage.models import Prompt

#: Words two prompts one word apart must still share to join (fewer is a different prompt).
NEAR_CORE = 4
#: Rows written in one transaction by ``compute_families``.
FOLD_BATCH = 5_000
#: A stored key longer than this is shortened: its start, then a digest of the whole.
KEY_MAX = 64

_WORD = re.compile(r"\w+")
_SPACE = re.compile(r"\s+")


def fold_words(text: str) -> list[str]:
    """The distinct words of ``text``, casefolded, sorted (punctuation and spacing gone)."""
    return sorted(set(_WORD.findall(text.casefold())))


def fold_key(text: str) -> str:
    """The exact-duplicate key: casefold, no punctuation, one space, words sorted and distinct.

    Text with no word at all (only punctuation) keeps its casefolded, space-collapsed self, so
    ``!!!`` and ``???`` stay apart.
    """
    text = text or ""
    if words := fold_words(text):
        return " ".join(words)
    return _SPACE.sub(" ", text.casefold()).strip()


def stored_key(key: str) -> str:
    """``key`` as stored in ``prompts.family_key``: short keys as they are, long ones cut."""
    if len(key) <= KEY_MAX:
        return key
    digest = hashlib.blake2b(key.encode("utf-8", "surrogatepass"), digest_size=8).hexdigest()
    return f"{key[: KEY_MAX - 20]}…{digest}"


class FoldItem(NamedTuple):
    """One prompt as the folding sees it (a row of ``id, text, use_count, family_key``)."""

    id: int
    text: str
    use_count: int = 0
    family_key: str | None = None


@dataclass(frozen=True)
class FoldResult:
    """What ``fold`` found: each prompt's family key, and the counts along the way."""

    keys: dict[int, str]
    exact_families: int
    families: int


class _UnionFind:
    def __init__(self, size: int) -> None:
        self.parent = list(range(size))

    def find(self, x: int) -> int:
        parent = self.parent
        root = x
        while parent[root] != root:
            root = parent[root]
        while parent[x] != root:
            parent[x], x = root, parent[x]
        return root

    def union(self, a: int, b: int) -> None:
        ra, rb = self.find(a), self.find(b)
        if ra != rb:
            self.parent[max(ra, rb)] = min(ra, rb)


def one_word_apart(a: frozenset[str], b: frozenset[str]) -> bool:
    """At most one word added, removed or replaced, and ``NEAR_CORE`` words still shared."""
    shared = len(a & b)
    return shared >= NEAR_CORE and len(a) - shared <= 1 and len(b) - shared <= 1


def near_groups(word_sets: Sequence[frozenset[str]]) -> list[int]:
    """For each distinct word set, the index of the first member of its group."""
    sigs: list[int] = []
    owners: list[int] = []
    for i, words in enumerate(word_sets):
        n = len(words)
        if n < NEAR_CORE:
            continue
        hs = list(map(hash, words))
        total = sum(hs)
        sigs.append(total)
        owners.append(i)
        if n > NEAR_CORE:
            sigs.extend([total - h for h in hs])
            owners.extend([i] * n)
    # The first owner of each signature (a dict keeps the last value written: write reversed).
    first = dict(zip(reversed(sigs), reversed(owners), strict=True))
    # Every owner paired with its signature's first owner, in C (2M signatures at 100k).
    firsts = list(map(first.__getitem__, sigs))
    candidates = set(compress(zip(firsts, owners, strict=True), map(operator.ne, firsts, owners)))
    uf = _UnionFind(len(word_sets))
    for j, i in candidates:  # any order: the groups (and their first members) are the same
        if uf.find(i) != uf.find(j) and one_word_apart(word_sets[i], word_sets[j]):
            uf.union(i, j)
    return [uf.find(i) for i in range(len(word_sets))]


def _key_text(key: frozenset[str] | str) -> str:
    return key if isinstance(key, str) else " ".join(sorted(key))


def fold(items: Iterable[tuple[int, str, int, str | None]]) -> FoldResult:
    """Each prompt's family key: exact keys first, then keys one word apart joined.

    ``items`` are ``(id, text, use_count, family_key)`` rows (``FoldItem``). A family that
    already has a key (from an earlier pass) keeps it: members without one take the key of its
    most-used member that has one. A new family takes its most-used member's exact key (ties:
    the lowest id).
    """
    rows = list(items)
    folded = [(text or "").casefold() for _, text, _, _ in rows]
    exact: dict[frozenset[str] | str, list[int]] = {}
    for n, words in enumerate(map(frozenset, map(_WORD.findall, folded))):
        # No word at all (only punctuation): the text itself, space-collapsed, is the key.
        exact.setdefault(words or _SPACE.sub(" ", folded[n]).strip(), []).append(n)
    keys = list(exact)
    roots = near_groups([k if isinstance(k, frozenset) else frozenset() for k in keys])
    families: dict[int, list[int]] = {}
    for index, root in enumerate(roots):
        families.setdefault(root, []).append(index)
    result: dict[int, str] = {}
    for group in families.values():
        if len(group) == 1 and len(exact[keys[group[0]]]) == 1:  # most families: one prompt
            pid, _, _, old = rows[exact[keys[group[0]]][0]]
            result[pid] = old or stored_key(_key_text(keys[group[0]]))
            continue
        members = [(n, index) for index in group for n in exact[keys[index]]]
        members.sort(key=lambda m: (-(rows[m[0]][2] or 0), rows[m[0]][0]))
        keyed = [n for n, _ in members if rows[n][3]]
        head_key = keys[members[0][1]]
        family_key = rows[keyed[0]][3] if keyed else stored_key(_key_text(head_key))
        for n, _ in members:
            result[rows[n][0]] = rows[n][3] or family_key  # type: ignore[assignment]
    return FoldResult(keys=result, exact_families=len(keys), families=len(families))


@dataclass(frozen=True)
class FamilySummary:
    """How the live history folds: prompts, families, and prompts not folded yet."""

    prompts: int
    families: int
    folded: int  # prompts that are variants (in a family, not its head)
    pending: int  # prompts without a family key yet

    def label(self) -> str:
        text = f"{self.prompts:,} prompts in {self.families:,} families"
        return text + (f" ({self.pending:,} not folded yet)" if self.pending else "")


@dataclass(frozen=True)
class FamilyHead:
    """A family's head (its most-used live member) and how many variants it has."""

    prompt: Prompt
    variants: int


#: Family order: the most-used first, then the most recently used, then the oldest row.
def _member_order() -> list[object]:
    return [Prompt.use_count.desc(), Prompt.last_used_at.desc(), Prompt.id]


class FoldingStore(StoreBase):
    """Compute and read prompt families (``prompts.family_key``)."""

    @guarded
    def pending_families(self) -> int:
        """Prompts whose family key is not computed yet."""
        return Prompt.select().where(Prompt.family_key.is_null()).count()

    @guarded
    def compute_families(
        self,
        batch: int = FOLD_BATCH,
        progress: Callable[[int, int], None] | None = None,
        cancelled: Callable[[], bool] | None = None,
    ) -> int:
        """Give every prompt without a family key one; returns how many were given one.

        Reads all prompts (keys already given stay), folds them in memory, then writes the new
        keys ``batch`` rows a transaction (``progress(done, total)`` after each); ``cancelled``
        is asked between batches. A row given a key meanwhile by another pass is left alone.
        """
        if not Prompt.select().where(Prompt.family_key.is_null()).exists():
            return 0
        rows = Prompt.select(Prompt.id, Prompt.text, Prompt.use_count, Prompt.family_key).tuples()
        items = list(rows.iterator())
        folded = fold(items)
        todo = [(folded.keys[pid], pid) for pid, _, _, key in items if key is None]
        done = 0
        batch = max(1, int(batch))
        sql = 'UPDATE "prompts" SET "family_key" = ? WHERE "id" = ? AND "family_key" IS NULL'
        for start in range(0, len(todo), batch):
            if cancelled is not None and cancelled():
                break
            chunk = todo[start : start + batch]
            with self.write():
                self.db.cursor().executemany(sql, chunk)
            done += len(chunk)
            if progress is not None:
                progress(done, len(todo))
        return done

    @guarded
    def family_members(self, prompt_id: int, include_deleted: bool = False) -> list[Prompt]:
        """The prompt's family, the head (most used) first; just the prompt if not folded yet."""
        prompt = self._get(Prompt, prompt_id)
        if prompt.family_key is None:
            return [prompt]
        query = Prompt.select().where(Prompt.family_key == prompt.family_key)
        if not include_deleted:
            query = query.where(Prompt.deleted_at.is_null() | (Prompt.id == prompt_id))
        return list(query.order_by(*_member_order()))

    @guarded
    def family_summary(self) -> FamilySummary:
        """Counts over the live (not trashed) prompts."""
        live = Prompt.select().where(Prompt.deleted_at.is_null())
        prompts = live.count()
        pending = live.where(Prompt.family_key.is_null()).count()
        families = (
            Prompt.select(fn.COUNT(Prompt.family_key.distinct()))
            .where(Prompt.deleted_at.is_null())
            .scalar()
            or 0
        )
        families += pending  # a prompt not folded yet is a family of its own for now
        return FamilySummary(
            prompts=prompts,
            families=families,
            folded=prompts - families,
            pending=pending,
        )

    @guarded
    def family_heads(self, limit: int = 50, offset: int = 0) -> list[FamilyHead]:
        """Live families, most used head first, each with its head and its variant count.

        Prompts not folded yet are listed as families of one.
        """
        # A prompt not folded yet is its own partition: NULL keys must not lump together.
        key = [Prompt.family_key, Case(None, [(Prompt.family_key.is_null(), Prompt.id)], None)]
        ranked = (
            Prompt.select(
                Prompt.id.alias("pid"),
                fn.ROW_NUMBER().over(partition_by=key, order_by=_member_order()).alias("rn"),
                fn.COUNT(Prompt.id).over(partition_by=key).alias("size"),
            )
            .where(Prompt.deleted_at.is_null())
            .alias("ranked")
        )
        heads = (
            Prompt.select(Prompt, ranked.c.size)
            .join(ranked, on=(Prompt.id == ranked.c.pid))
            .where(ranked.c.rn == 1)
            .order_by(*_member_order())
            .limit(max(0, int(limit)))
            .offset(max(0, int(offset)))
            .objects()
        )
        return [FamilyHead(prompt=row, variants=int(row.size) - 1) for row in heads]


def timed_fold(texts: Sequence[str]) -> tuple[FoldResult, float]:
    """Fold ``texts`` in memory (ids are positions, one use each); the result and seconds."""
    start = time.perf_counter()
    result = fold(FoldItem(i, t, 1) for i, t in enumerate(texts))
    return result, time.perf_counter() - start
