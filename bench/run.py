"""The benchmark: every figure of the performance table against its floor, in one run.

    python bench/run.py [--sizes 37k,100k[,1m]] [--full] [--corpus FILE] [--work DIR]
                        [--json PATH | --json -] [--smoke] [--only LABEL]

Builds the histories from the prompt corpus (cached in --work, so reruns are fast), measures
each row and its floor in the same run, prints the table (figure | measured | floor | ratio |
goal | met?) and writes the figures as JSON (default bench/results/<timestamp>.json). The same
script measures older code: ``PYTHONPATH=/path/to/old/checkout python bench/run.py`` (features
the old code lacks are detected, not assumed). Timings live here, never in the tests:
``--smoke`` (tiny histories, a few iterations, the JSON's shape checked) is what the test suite
runs.

``1m`` (in --sizes, or --full) adds the scaling rows: a synthetic history of 1,000,000 distinct
prompts (the corpus's distinct lines suffixed as for 100k, streamed through ``import_prompts``,
cached in --work; its build time is reported) measured by the search rows only (the same
queries, page + count, against the floor on that same file), plus the 1M-line import row. The
TUI rows (keystroke, echo, memory) stay at the largest of 37k/100k. ``--smoke`` runs the same
path on a 1,000-prompt stand-in (``smoke-1m``).
"""

from __future__ import annotations

import argparse
import concurrent.futures
import datetime as dt
import json
import math
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
if str(BENCH) not in sys.path:
    sys.path.insert(0, str(BENCH))

import histories  # noqa: E402
import measure_pty  # noqa: E402
import measure_search  # noqa: E402
import measure_thumbs  # noqa: E402

CHILD = BENCH / "child.py"
ROW_KEYS = ("id", "figure", "measured", "floor", "ratio", "goal", "met", "note")


class Plan:
    """How much of each row to run (the full bench or --smoke)."""

    def __init__(self, smoke: bool) -> None:
        self.smoke = smoke
        self.queries = 20 if smoke else 250
        self.keys = 6 if smoke else 30
        self.echo_text = "cats" if smoke else "a castle in the fog at dawn"
        self.echo_gap_s = 0.05 if smoke else 0.25
        self.frames = 1 if smoke else 5
        self.thumbs = 3 if smoke else 21
        self.pages = 3 if smoke else 20
        self.child_timeout = 60 if smoke else 900


def child(kind: str, args: dict[str, Any], timeout: float) -> Any:
    """Run one measurement in a fresh interpreter (same environment); its JSON result."""
    args = {**args, "spawned": time.time()}  # the first frame counts from the process's start
    done = subprocess.run(
        [sys.executable, str(CHILD), kind, json.dumps(args)],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=BENCH,
    )
    for line in reversed(done.stdout.splitlines()):
        if line.startswith("RESULT "):
            return json.loads(line[len("RESULT ") :])
    last = (done.stderr.strip().splitlines() or ["no output"])[-1]
    raise RuntimeError(f"{kind} failed (exit {done.returncode}): {last}")


def row(
    id_: str,
    figure: str,
    measured: Any,
    floor: Any,
    ratio: float | None,
    goal: str,
    met: bool | None,
    note: str = "",
) -> dict[str, Any]:
    """One line of the table (and of the JSON)."""
    return {
        "id": id_,
        "figure": figure,
        "measured": measured,
        "floor": floor,
        "ratio": None if ratio is None or math.isnan(ratio) else round(ratio, 3),
        "goal": goal,
        "met": met,
        "note": note,
    }


def failed(id_: str, figure: str, goal: str, exc: BaseException) -> dict[str, Any]:
    return row(id_, figure, None, None, None, goal, None, f"not measured: {exc}")


def _ratio(a: float, b: float) -> float:
    return a / b if b and b > 0 else math.nan


def _ppm(s: dict[str, float]) -> str:
    return f"{s['p50']:.2f}/{s['p95']:.2f}/{s['max']:.1f} ms"


def _pp(s: dict[str, float]) -> str:
    return f"{s['p50']:.1f}/{s['p95']:.1f} ms"


# -- the rows ------------------------------------------------------------------------------


def rows_search(
    size: str, home: Path, lines: list[str], plan: Plan, scaling: str = "", note: str = ""
) -> list[dict[str, Any]]:
    """``scaling``: the label's words for a synthetic scaling history (search rows only)."""
    label = f"{size} {scaling}" if scaling else size
    figure = f"History search call (page 100 + count), {plan.queries} queries, {label} p50/p95/max"
    goal = "p50 ≤ 1.5× floor, p95 ≤ 15 ms"
    queries = measure_search.corpus_queries(lines, plan.queries)
    got = measure_search.measure(home, queries)
    product, floor = got["product"], got["floor"]
    ratio = _ratio(product["p50"], floor["p50"])
    met = ratio <= 1.5 and product["p95"] <= 15
    return [row(f"search-{size}", figure, product, floor, ratio, goal, met, note)]


def rows_keystrokes(size: str, home: Path, words: list[str], plan: Plan) -> list[dict[str, Any]]:
    figure = f"keystroke → new results on screen, {size} p50/p95"
    goal = "p95 ≤ 50 ms"
    got = child(
        "keystrokes", {"home": str(home), "words": words, "keys": plan.keys}, plan.child_timeout
    )
    s = got["keystrokes"]
    note = f"{int(s['n'])} keys" + (
        f", {got['timeouts']} timed out (10 s)" if got["timeouts"] else ""
    )
    return [row(f"keystroke-{size}", figure, s, None, None, goal, s["p95"] <= 50, note)]


def rows_echo(size: str, home: Path, plan: Plan) -> list[dict[str, Any]]:
    figure = f"typing echo while results repaint ({1 / plan.echo_gap_s:.0f} keys/s), {size} p50/p95"
    goal = "p95 ≤ 16.7 ms"
    got = child(
        "echo",
        {"home": str(home), "text": plan.echo_text, "gap_s": plan.echo_gap_s},
        plan.child_timeout,
    )
    product, floor = got["product"], got["floor"]
    ratio = _ratio(product["p95"], floor["p95"])
    return [
        row(
            f"echo-{size}",
            figure,
            product,
            floor,
            ratio,
            goal,
            product["p95"] <= 16.7,
            "ratio of p95",
        )
    ]


def rows_first_frame(
    home: Path, plan: Plan, run_many: Callable[..., list[Any]]
) -> list[dict[str, Any]]:
    """Headless and in a pty, from the process's start (interpreter and imports included, as a
    user waits); the time from building the app (imports done) is in the note."""
    out = []
    goal = "≤ 1.8× bare"
    figure = "first frame headless (Pilot) from process start, ms"
    try:
        jobs = [("frame", {"app": "app", "home": str(home)})] * plan.frames + [
            ("frame", {"app": "bare", "home": ""})
        ] * plan.frames
        got = run_many(jobs)
        app = [g["from_start_ms"] for g in got[: plan.frames]]
        bare = [g["from_start_ms"] for g in got[plan.frames :]]
        built = statistics.median(g["after_imports_ms"] for g in got[: plan.frames])
        built_bare = statistics.median(g["after_imports_ms"] for g in got[plan.frames :])
        a, b = statistics.median(app), statistics.median(bare)
        ratio = _ratio(a, b)
        note = f"median; from building the app {built:.0f} vs {built_bare:.0f} ms"
        out.append(row("first-frame-headless", figure, a, b, ratio, goal, ratio <= 1.8, note))
    except Exception as exc:  # noqa: BLE001 (a row that fails says why; the others still run)
        out.append(failed("first-frame-headless", figure, goal, exc))
    figure = "first frame in a real pty from process start, ms"
    reason = measure_pty.available()
    if reason:
        out.append(
            row("first-frame-pty", figure, None, None, None, goal, None, f"skipped: {reason}")
        )
        return out
    try:
        got = measure_pty.measure(home, plan.frames)
        ratio = _ratio(got["app_ms"], got["bare_ms"])
        note = (
            f"median; from building the app {got['app_built_ms']:.0f} "
            f"vs {got['bare_built_ms']:.0f} ms"
        )
        out.append(
            row(
                "first-frame-pty",
                figure,
                got["app_ms"],
                got["bare_ms"],
                ratio,
                goal,
                ratio <= 1.8,
                note,
            )
        )
    except Exception as exc:  # noqa: BLE001
        out.append(failed("first-frame-pty", figure, goal, exc))
    return out


def rows_memory(
    big: str, home: Path, small: Path, plan: Plan, run_many: Callable[..., list[Any]]
) -> list[dict[str, Any]]:
    figure = f"memory (RSS) after 'c' + {plan.pages}× PageDown, {big} vs 200 prompts, MB"
    goal = "≤ 1.2×"
    got_big, got_small = run_many(
        [
            ("memory", {"home": str(home), "pages": plan.pages}),
            ("memory", {"home": str(small), "pages": plan.pages}),
        ]
    )
    ratio = _ratio(got_big["rss_mb"], got_small["rss_mb"])
    note = f"{got_big['rows_loaded']} rows loaded vs {got_small['rows_loaded']}"
    return [
        row(
            f"memory-{big}",
            figure,
            got_big["rss_mb"],
            got_small["rss_mb"],
            ratio,
            goal,
            ratio <= 1.2,
            note,
        )
    ]


def rows_import(
    name: str, lines: list[str], work: Path, plan: Plan, run_many: Callable[..., list[Any]]
) -> list[dict[str, Any]]:
    figure = f"import {name}, s"
    goal = "≤ 1.5× floor"
    with tempfile.TemporaryDirectory(dir=work) as tmp:
        path = Path(tmp) / "lines.txt"
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")
        product, floor = run_many(
            [
                ("import", {"home": str(Path(tmp) / "product"), "lines": str(path)}),
                ("import-floor", {"home": str(Path(tmp) / "floor"), "lines": str(path)}),
            ]
        )
    ratio = _ratio(product["seconds"], floor["seconds"])
    slug = name.split(" ")[0]
    return [
        row(
            f"import-{slug}",
            figure,
            product["seconds"],
            floor["seconds"],
            ratio,
            goal,
            ratio <= 1.5,
        )
    ]


def rows_import_million(
    corpus: list[str], corpus_file: Path, work: Path, plan: Plan
) -> list[dict[str, Any]]:
    figure = "import 1M lines (file), peak RSS MB vs the 105k-line file"
    goal = "≤ 1.5× (bounded)"
    million = histories.million_file(work, corpus)
    with tempfile.TemporaryDirectory(dir=work) as tmp:
        big = child("import-file", {"home": str(Path(tmp) / "m"), "file": str(million)}, 3600)
        small = child("import-file", {"home": str(Path(tmp) / "s"), "file": str(corpus_file)}, 900)
    ratio = _ratio(big["peak_rss_mb"], small["peak_rss_mb"])
    note = f"{big['seconds']:.1f} s for {big['lines']:,} lines"
    if "rss_before_mb" in big:  # the services alone, before either import
        note += f"; {big['rss_before_mb']:.0f} MB before the import"
    return [
        row(
            "import-1m",
            figure,
            big["peak_rss_mb"],
            small["peak_rss_mb"],
            ratio,
            goal,
            ratio <= 1.5,
            note,
        )
    ]


def rows_fold(size: str, home: Path, work: Path, plan: Plan) -> list[dict[str, Any]]:
    """Near-duplicate folding on a copy of the history: the first run (every key NULL)."""
    figure = f"fold {size} (first run), s"
    goal = "< 2 s"
    with tempfile.TemporaryDirectory(dir=work) as tmp:
        copy = histories.copy_home(home, Path(tmp) / "home")
        got = child("fold", {"home": str(copy)}, plan.child_timeout)
    if got.get("missing"):
        return [
            row(
                f"fold-{size}",
                figure,
                None,
                None,
                None,
                goal,
                None,
                "skipped: this dalletui has no folding",
            )
        ]
    note = (
        f"{got['prompts']:,} prompts → {got['exact']:,} exact-key families → "
        f"{got['families']:,} families; cpu {got['cpu_seconds']:.2f} s; "
        f"again (nothing new) {got['again'] * 1000:.1f} ms; floor: read + split into words"
    )
    seconds = got["seconds"]
    return [
        row(
            f"fold-{size}",
            figure,
            seconds,
            got["floor"],
            _ratio(seconds, got["floor"]),
            goal,
            seconds < 2.0,
            note,
        )
    ]


def rows_thumbnail(work: Path, plan: Plan) -> list[dict[str, Any]]:
    figure = "thumbnail save of a 1024 px image, ms"
    got = measure_thumbs.measure(measure_thumbs.sample_image(work / "big.png"), plan.thumbs)
    ratio = _ratio(got["product_ms"], got["level1_ms"])
    note = f"PIL default level {got['default_ms']:.1f} ms, optimize {got['optimize_ms']:.1f} ms"
    return [
        row(
            "thumbnail",
            figure,
            got["product_ms"],
            got["level1_ms"],
            ratio,
            "≤ 15 ms",
            got["product_ms"] <= 15,
            note,
        )
    ]


def rows_preview(
    work: Path, plan: Plan, run_many: Callable[..., list[Any]]
) -> list[dict[str, Any]]:
    image = measure_thumbs.sample_image(work / "big.png")
    modes = ("sixel", "halfcell")
    got = run_many([("preview", {"image": str(image), "mode": mode}) for mode in modes])
    out = []
    for mode, result in zip(modes, got, strict=True):
        figure = f"first paint of a 1024 px preview ({mode}), UI-thread ms"
        ui = result["render_lines_max_ms"]
        note = f"longest loop stall {result['loop_stall_max_ms']:.1f} ms"
        out.append(row(f"preview-{mode}", figure, ui, None, None, "0 ms (< 1 ms)", ui < 1, note))
    return out


# -- the run -------------------------------------------------------------------------------


def _fmt(value: Any) -> str:
    if value is None:
        return "—"
    if isinstance(value, dict):
        return _ppm(value) if "max" in value and value.get("n", 0) > 30 else _pp(value)
    if isinstance(value, float):
        return f"{value:.3g}" if value < 100 else f"{value:.0f}"
    return str(value)


def table(rows: list[dict[str, Any]]) -> str:
    """The rows as a Markdown table."""
    lines = ["| figure | measured | floor | ratio | goal | met? |", "|---|---|---|---|---|---|"]
    for r in rows:
        met = {True: "yes", False: "NO", None: "—"}[r["met"]]
        ratio = "—" if r["ratio"] is None else f"{r['ratio']:.2f}×"
        figure = r["figure"] + (f" ({r['note']})" if r["note"] else "")
        cells = [figure, _fmt(r["measured"]), _fmt(r["floor"]), ratio, r["goal"], met]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def check_shape(report: dict[str, Any]) -> list[str]:
    """What is wrong with a report's shape (empty when it is right)."""
    problems = []
    for key in ("code", "started", "sizes", "smoke", "rows"):
        if key not in report:
            problems.append(f"missing key {key!r}")
    for r in report.get("rows", []):
        missing = [k for k in ROW_KEYS if k not in r]
        if missing:
            problems.append(f"row {r.get('id')!r} lacks {missing}")
        if str(r.get("note", "")).startswith("not measured"):
            problems.append(f"row {r.get('id')!r} {r['note']}")
    ids = {r.get("id", "").split("-")[0] for r in report.get("rows", [])}
    for needed in (
        "search",
        "keystroke",
        "echo",
        "first",
        "memory",
        "import",
        "fold",
        "thumbnail",
        "preview",
    ):
        if needed not in ids:
            problems.append(f"no {needed} row")
    return problems


def _built(info: dict[str, Any]) -> str:
    """A history's build, for a note: its prompts and how long it took (cached or now)."""
    if not info.get("seconds"):
        return "cached (build time not recorded)"
    added = f"{info['added']:,} prompts" if info.get("added") is not None else "built"
    when = "cached, built" if info.get("cached") else "built"
    return f"{added}, {when} in {info['seconds']:.1f} s"


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--sizes",
        default="",
        help="histories to measure: 37k,100k (default); 1m adds the 1M-distinct search rows "
        "and the 1M-line import",
    )
    parser.add_argument("--full", action="store_true", help="the default sizes plus 1m")
    parser.add_argument(
        "--corpus", type=Path, default=None, help="prompt corpus (one a line, .gz ok)"
    )
    parser.add_argument("--work", type=Path, default=None, help="cache folder for the histories")
    parser.add_argument("--json", default=None, help="where to write the JSON ('-': stdout)")
    parser.add_argument("--smoke", action="store_true", help="tiny histories, a few iterations")
    parser.add_argument(
        "--only", default=None, help="run only the rows whose label starts so (e.g. search)"
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    plan = Plan(args.smoke)
    sizes = [s.strip().lower() for s in (args.sizes or "37k,100k").split(",") if s.strip()]
    full = args.full or "1m" in sizes
    sizes = [s for s in sizes if s != "1m"] or ["37k", "100k"]
    scaling = ["1m"] if full else []
    unknown = [s for s in sizes if s not in {"37k", "100k"}]
    if unknown:
        print(f"Unknown size {unknown[0]!r}: use 37k, 100k or 1m.", file=sys.stderr)
        return 2
    work = args.work or Path(tempfile.gettempdir()) / "dalletui-bench"
    work.mkdir(parents=True, exist_ok=True)
    corpus_file = args.corpus or histories.DEFAULT_CORPUS
    try:
        corpus = histories.read_corpus(corpus_file)
    except histories.CorpusMissing as exc:
        if not args.smoke:
            print(exc, file=sys.stderr)
            return 2
        corpus = histories.synthetic_lines(400)
    if args.smoke:
        sizes = ["smoke"]
        full = False
        scaling = ["smoke-1m"]  # the 1m path at a tiny size (no 1M-line import)

    workers = 2 if args.smoke else 1  # timings of the smoke run mean nothing: run it side by side

    def run_many(jobs: list[tuple[str, dict[str, Any]]]) -> list[Any]:
        if workers == 1:
            return [child(kind, a, plan.child_timeout) for kind, a in jobs]
        with concurrent.futures.ThreadPoolExecutor(workers) as pool:
            return list(pool.map(lambda job: child(job[0], job[1], plan.child_timeout), jobs))

    import dalletui

    started = dt.datetime.now(dt.UTC)
    clock = time.perf_counter()
    print(
        f"dalletui from {Path(dalletui.__file__).parent}; histories cached in {work}",
        file=sys.stderr,
    )
    homes = {}
    builds: dict[str, dict[str, Any]] = {}
    for name in [*sizes, "200", *scaling]:
        print(f"building history {name} …", file=sys.stderr)
        start = time.perf_counter()
        homes[name] = histories.history_home(work, name, corpus)
        took = time.perf_counter() - start
        info = histories.build_info(work, name)
        builds[name] = {**info, "cached": took < 0.9 * float(info.get("seconds") or math.inf)}
        if name in scaling:
            print(f"  history {name}: {_built(builds[name])}", file=sys.stderr)
    words = [
        q for q in measure_search.corpus_queries(corpus, 200, seed=7) if " " not in q and len(q) > 4
    ]

    rows: list[dict[str, Any]] = []

    def attempt(
        label: str, fn: Callable[[], list[dict[str, Any]]], id_: str, figure: str, goal: str
    ) -> None:
        if args.only and not label.startswith(args.only):
            return
        print(f"measuring {label} …", file=sys.stderr)
        try:
            rows.extend(fn())
        except Exception as exc:  # noqa: BLE001 (a row that fails says why; the others still run)
            rows.append(failed(id_, figure, goal, exc))

    for size in sizes:
        home = homes[size]
        attempt(
            f"search {size}",
            lambda h=home, s=size: rows_search(s, h, corpus, plan),
            f"search-{size}",
            f"search {size}",
            "p50 ≤ 1.5× floor, p95 ≤ 15 ms",
        )
    for size in scaling:
        attempt(
            f"search {size}",
            lambda h=homes[size], s=size: rows_search(
                s,
                h,
                corpus,
                plan,
                "distinct, synthetic: only the search rows run at this size",
                _built(builds[s]),
            ),
            f"search-{size}",
            f"search {size}",
            "p50 ≤ 1.5× floor, p95 ≤ 15 ms",
        )
    for size in sizes:
        attempt(
            f"keystrokes {size}",
            lambda h=homes[size], s=size: rows_keystrokes(s, h, words, plan),
            f"keystroke-{size}",
            f"keystroke {size}",
            "p95 ≤ 50 ms",
        )
    big = sizes[-1]
    attempt(
        "typing echo",
        lambda: rows_echo(big, homes[big], plan),
        f"echo-{big}",
        "typing echo",
        "p95 ≤ 16.7 ms",
    )
    attempt(
        "first frame",
        lambda: rows_first_frame(homes[sizes[0]], plan, run_many),
        "first-frame",
        "first frame",
        "≤ 1.8×",
    )
    attempt(
        "memory",
        lambda: rows_memory(big, homes[big], homes["200"], plan, run_many),
        f"memory-{big}",
        "memory",
        "≤ 1.2×",
    )
    if args.smoke:
        imports = [("smoke lines", histories.lines_for("smoke", corpus))]
    else:
        imports = [
            (f"{len(corpus) // 1000}k lines (as they are)", corpus),
            ("100k distinct", histories.lines_for("100k", corpus)),
        ]
    for name, lines in imports:
        attempt(
            f"import {name}",
            lambda n=name, li=lines: rows_import(n, li, work, plan, run_many),
            f"import-{name.split(' ')[0]}",
            f"import {name}",
            "≤ 1.5× floor",
        )
    if full:
        attempt(
            "import 1M",
            lambda: rows_import_million(corpus, corpus_file, work, plan),
            "import-1m",
            "import 1M",
            "bounded",
        )
    for size in sizes:
        attempt(
            f"fold {size}",
            lambda h=homes[size], s=size: rows_fold(s, h, work, plan),
            f"fold-{size}",
            f"fold {size}",
            "< 2 s",
        )
    attempt("thumbnail", lambda: rows_thumbnail(work, plan), "thumbnail", "thumbnail", "≤ 15 ms")
    attempt(
        "preview",
        lambda: rows_preview(work, plan, run_many),
        "preview",
        "preview first paint",
        "< 1 ms",
    )

    report = {
        "code": str(Path(dalletui.__file__).parent),
        "python": sys.version.split()[0],
        "cpus": os.cpu_count(),
        "started": started.isoformat(timespec="seconds"),
        "seconds": round(time.perf_counter() - clock, 1),
        "sizes": sizes,
        "scaling": scaling,
        "builds": builds,
        "smoke": args.smoke,
        "rows": rows,
    }
    print(table(rows), file=sys.stderr if args.json == "-" else sys.stdout)
    text = json.dumps(report, indent=2, ensure_ascii=False)
    if args.json == "-":
        print(text)
    else:
        path = (
            Path(args.json) if args.json else BENCH / "results" / f"{started:%Y%m%dT%H%M%SZ}.json"
        )
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text + "\n", encoding="utf-8")
        print(f"JSON written to {path}", file=sys.stderr)
    if args.smoke and not args.only:
        problems = check_shape(report)
        if problems:
            print("smoke: the report's shape is wrong: " + "; ".join(problems), file=sys.stderr)
            return 1
        print(f"smoke: JSON shape ok ({len(rows)} rows, {report['seconds']} s)", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
