"""Render docs/benchmarks.md and docs/benchmarks-latency.png from the results of one run."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from common import BENCH

PLOT = "benchmarks-latency.png"
LOAD_HEADER = (
    "| server | req/s | p50 ms | p90 ms | p99 ms | non-2xx | socket errors "
    "| RSS MiB before → after |"
)


def _plot(sweep: list[dict[str, Any]], target: Path) -> bool:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("  matplotlib is missing (pip install -e '.[bench]'): no plot")
        return False
    connections = [row["connections"] for row in sweep]
    figure, axes = plt.subplots(figsize=(7, 4.2), dpi=110)
    for key, label in (("p50_ms", "p50"), ("p90_ms", "p90"), ("p99_ms", "p99")):
        axes.plot(connections, [row[key] for row in sweep], marker="o", label=label)
    axes.set_xlabel("concurrent connections (wrk, closed loop)")
    axes.set_ylabel("latency (ms)")
    axes.set_xticks(connections)
    axes.set_title("Latency against concurrency: 10,000 users, mixed requests, 1 server core")
    axes.grid(alpha=0.3)
    axes.legend()
    rps = axes.twinx()
    rps.plot(connections, [row["rps"] for row in sweep], "k--", alpha=0.4, label="req/s")
    rps.set_ylabel("requests/s (dashed)")
    rps.set_ylim(bottom=0)
    figure.tight_layout()
    figure.savefig(target)
    plt.close(figure)
    return True


def _f(value: float, digits: int = 1) -> str:
    return f"{value:,.{digits}f}"


def _load_row(r: dict[str, Any]) -> str:
    return (
        f"| {r['name']} | {_f(r['rps'], 0)} | {_f(r['p50_ms'])} | {_f(r['p90_ms'])} | "
        f"{_f(r['p99_ms'])} | {r['non_2xx']} | {r['socket_errors']} | "
        f"{_f(r['rss_before_mib'])} → {_f(r['rss_after_mib'])} |"
    )


def _runs(row: dict[str, Any]) -> str:
    """How a row's figures were taken: one run, or medians of several in a row."""
    rounds = row.get("rounds", 1)
    if rounds == 1:
        return "one run"
    return f"medians of {rounds} runs in a row, p99 / p50 the median of each run's own"


def _rounds(row: dict[str, Any]) -> str:
    """Each run's req/s and p99 / p50, as "req/s ×tail" (a row of one run: itself)."""
    runs = row.get("runs", [row])
    return ", ".join(f"{_f(r['rps'], 0)} req/s ×{r['p99_ms'] / r['p50_ms']:.1f}" for r in runs)


def _growth(scaling: list[dict[str, Any]]) -> float:
    """1M / 1k rows for the 20-task user, the worse of first and deep page."""
    small = [r for r in scaling if r["user_rows"] == 20]
    return float(
        max(
            small[-1]["first_p50_ms"] / small[0]["first_p50_ms"],
            small[-1]["deep_p50_ms"] / small[0]["deep_p50_ms"],
        )
    )


def scaling_lines(scaling: list[dict[str, Any]]) -> list[str]:
    lines = [
        "| rows in table | user's tasks | first page p50 ms | p99 | deep page p50 ms | p99 "
        "| `sort=-due_at` p50 ms | `sort=title` p50 ms | `q` p50 ms |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in scaling:
        # The sorted and searched pages from issue 25 on; earlier results have none.
        later = [r.get(k) for k in ("by_due_p50_ms", "by_title_p50_ms", "search_p50_ms")]
        lines.append(
            f"| {r['table_rows']:,} | {r['user_rows']:,} | {_f(r['first_p50_ms'], 2)} | "
            f"{_f(r['first_p99_ms'], 2)} | {_f(r['deep_p50_ms'], 2)} | {_f(r['deep_p99_ms'], 2)} | "
            + " | ".join("–" if v is None else _f(v, 2) for v in later)
            + " |"
        )
    small = [r for r in scaling if r["user_rows"] == 20]
    if len(small) >= 2:
        lo, hi = small[0], small[-1]
        lines += [
            "",
            "1M / 1k rows, 20-task user: first page "
            f"×{hi['first_p50_ms'] / lo['first_p50_ms']:.2f}, deep page "
            f"×{hi['deep_p50_ms'] / lo['deep_p50_ms']:.2f} (target ≤ 1.2).",
        ]
    lines += _sorted_and_searched(scaling)
    return lines


def _sorted_and_searched(scaling: list[dict[str, Any]]) -> list[str]:
    """Issue 25: the largest user's title and q pages at the largest table, against today's list
    (the 20-task user's first page at the smallest table)."""
    small = [r for r in scaling if r["user_rows"] == 20]
    large = [r for r in scaling if r["user_rows"] > 20 and r.get("search_p50_ms") is not None]
    if not small or not large:
        return []
    base, top = small[0], large[-1]
    ratios = ", ".join(
        f"{name} ×{top[key] / base['first_p50_ms']:.2f}"
        for name, key in (
            ("`sort=-due_at`", "by_due_p50_ms"),
            ("`sort=title`", "by_title_p50_ms"),
            ("`q`", "search_p50_ms"),
            ("its own default list", "first_p50_ms"),
        )
    )
    return [
        "",
        f"{top['table_rows']:,} rows, {top['user_rows']:,}-task user, against the 20-task user's "
        f"list at {base['table_rows']:,} rows: {ratios} (target ≤ 1.5).",
    ]


def _summary(results: dict[str, Any]) -> list[str]:
    a, load, ol = results["auth"], results["load"], results["open_loop"]
    cached = a.get("cached", a["uncached"])
    growth = _growth(results["scaling"])
    warm = max(r["warm_p50"] for r in cached.values())
    best = f"{_f(ol['best']['rate'], 0)} req/s" if ol["best"] else "none held (see §3)"
    best += _searches(ol)
    ok = {True: "met", False: "**missed**"}
    clean = load["non_2xx"] == 0 and load["socket_errors"] == 0
    return [
        "## Against the targets of issue 7",
        "",
        "| target | figure | |",
        "|---|---|---|",
        f"| auth adds < 5% to the median request (ratio ≥ 0.95) | {a['overhead']['ratio']:.3f} "
        f"| {ok[a['overhead']['ratio'] >= 0.95]} |",
        f"| warm verification < 10 µs | {_f(warm)} µs (worst algorithm, p50) | {ok[warm < 10]} |",
        f"| cold HS256 verification, reported | {_f(a['uncached']['HS256']['cold_p50'])} µs p50 "
        "| |",
        f"| 100 connections: 0 errors, 0 non-2xx | {load['non_2xx']} non-2xx, "
        f"{load['socket_errors']} errors | {ok[clean]} |",
        f"| requests/s per server core (10k users, mix) | {_f(load['rps'], 0)} | |",
        f"| open loop: highest rate with p99 < 50 ms | {best} | |",
        f"| server RSS before → after the 10k-user run | {_f(load['rss_before_mib'])} → "
        f"{_f(load['rss_after_mib'])} MiB | |",
        f"| list at 1M rows within 1.2× of 1k rows | ×{growth:.2f} (worse of first and deep page) "
        f"| {ok[growth <= 1.2]} |",
        *_postgresql_targets(results.get("postgresql"), ok),
        "",
        *_issue15_targets(results, ok),
    ]


def _searches(ol: dict[str, Any]) -> str:
    """Every search's held rate, where the figure is their median (older runs made one)."""
    if "searches" not in ol:
        return ""
    rates = ", ".join(_f(rate, 0) for rate in ol["searches"])
    return f"; the median of {len(ol['searches'])} searches, each on a fresh server: {rates}"


def _tail(row: dict[str, Any]) -> float:
    """The median of each run's own p99 / p50 where the row has several runs, else its ratio."""
    return float(row.get("tail_ratio", row["p99_ms"] / row["p50_ms"]))


def _issue15_targets(results: dict[str, Any], ok: dict[bool, str]) -> list[str]:
    """The tail, the open-loop rate and the floor ratio (issue 15), each from this run."""
    load, ol, floor = results["load"], results["open_loop"], results.get("floor")
    best = ol["best"]["rate"] if ol["best"] else 0.0
    lines = [
        "## Against the targets of issue 15",
        "",
        "| target | figure | |",
        "|---|---|---|",
        f"| SQLite, 100 connections (closed loop): p99 ≤ 3 × p50 | ×{_tail(load):.1f} "
        f"({_runs(load)}; §3, 1 worker: p99 {_f(load['p99_ms'])} ms, p50 {_f(load['p50_ms'])} "
        f"ms) | {ok[_tail(load) <= 3]} |",
    ]
    if floor:
        product = floor["rows"][0]
        lines.append(
            f"| the same, median of the floor comparison's rounds (§3b) | "
            f"×{product['tail_ratio']:.1f} | {ok[product['tail_ratio'] <= 3]} |"
        )
    pg = results.get("postgresql")
    if pg and "skipped" not in pg:
        lines.append(
            f"| PostgreSQL, 100 connections: p99 ≤ 3 × p50 | p99 {_f(pg['load']['p99_ms'])} ms / "
            f"p50 {_f(pg['load']['p50_ms'])} ms = ×{_tail(pg['load']):.1f} (§6, 1 worker) "
            f"| {ok[_tail(pg['load']) <= 3]} |"
        )
    if ol["best"]:
        held = f"{_f(best, 0)} req/s (1 worker on 1 core, §3){_searches(ol)}"
    else:  # the search stops at the first rate that fails
        first = min(ol["steps"], key=lambda step: step["rate"])
        held = (
            f"no rate held: the lowest tried, {_f(first['rate'], 0)} req/s, had p99 "
            f"{_f(first['p99_ms'])} ms (§3)"
        )
    lines.append(
        f"| open loop: highest rate with p99 < 50 ms ≥ 1,000 req/s per server core | {held} "
        f"| {ok[best >= 1000]} |"
    )
    if floor:
        lines.append(
            f"| product / floor requests/s ≥ 0.5 at 100 connections | "
            f"{floor['rps_ratio']:.2f} (§3b) | {ok[floor['rps_ratio'] >= 0.5]} |"
        )
    else:
        lines.append("| product / floor requests/s ≥ 0.5 | not measured in this run | |")
    return [*lines, ""]


def floor_section(floor: dict[str, Any] | None) -> list[str]:
    """§3b: the product against bench/floor.py, the mix's work with no framework (issue 15)."""
    if not floor:
        return []
    product, bare = floor["rows"]
    rounds = ", ".join(f"{r:.2f}" for r in floor["rps_ratio_rounds"])
    header = (
        "| server | req/s | p50 ms | p90 ms | p99 ms | p99 / p50 | CPU µs per request "
        "| non-2xx | socket errors |"
    )
    rows = [
        f"| {r['name']} | {_f(r['rps'], 0)} | {_f(r['p50_ms'])} | {_f(r['p90_ms'])} | "
        f"{_f(r['p99_ms'])} | ×{r['tail_ratio']:.1f} | {_f(r['cpu_us_per_request'], 0)} | "
        f"{r['non_2xx']} | {r['socket_errors']} |"
        for r in (product, bare)
    ]
    return [
        "",
        "### 3b. Against the floor",
        "",
        "`bench/floor.py` is a bare ASGI app under the same uvicorn, core and data that does",
        "only the mix's work: a cached HS256 check, the owner filter, the store's SQL statements",
        "through the standard library's `sqlite3` (reads on the event loop, writes on one writer",
        "thread), JSON out. A measuring stick, not product code: it has none of the product's",
        "other guarantees (request ids, access log, CORS, limits, strict validation,",
        f"problem+json). Medians of {floor['rounds']} interleaved rounds of {floor['seconds']} s,",
        "100 connections; p99 / p50 is the median of each round's own ratio.",
        "",
        header,
        "|---|---|---|---|---|---|---|---|---|",
        *rows,
        "",
        f"Product / floor: requests/s **{floor['rps_ratio']:.2f}** (rounds: {rounds}), "
        f"p50 ×{floor['p50_ratio']:.2f}, p99 ×{floor['p99_ratio']:.2f}, "
        f"CPU per request ×{floor['cpu_ratio']:.2f}.",
    ]


def _postgresql_targets(pg: dict[str, Any] | None, ok: dict[bool, str]) -> list[str]:
    if not pg or "skipped" in pg:
        return ["| PostgreSQL (§6) | not measured in this run | |"]
    load, growth = pg["load"], _growth(pg["scaling"])
    clean = load["non_2xx"] == 0 and load["socket_errors"] == 0
    return [
        f"| PostgreSQL, 100 connections: 0 errors, 0 non-2xx | {load['non_2xx']} non-2xx, "
        f"{load['socket_errors']} errors | {ok[clean]} |",
        f"| PostgreSQL: requests/s, server on 1 core, database beside it (10k users, mix) "
        f"| {_f(load['rps'], 0)} | |",
        f"| PostgreSQL: list at 1M rows within 1.2× of 1k rows | ×{growth:.2f} | "
        f"{ok[growth <= 1.2]} |",
    ]


def write(results: dict[str, Any], docs: Path) -> None:
    m = results["machine"]
    plotted = _plot(results["sweep"], docs / PLOT)
    a = results["auth"]
    o = a["overhead"]
    summary = _summary(results)
    lines = [
        "# Benchmarks",
        "",
        "Regenerated by `make bench` (`bench/run.py`); raw figures in",
        "[`benchmarks.json`](benchmarks.json). Targets and method: issue 7. These numbers are from",
        f"one run{' in quick mode (`BENCH_QUICK=1`, shorter steps)' if results['quick'] else ''};"
        " rerun on your machine before quoting them.",
        "",
        *summary,
        "## Machine",
        "",
        f"- CPU: {m['cpu']}, {m['cores']} cores, {m['memory_gib']} GiB; Linux {m['kernel']}",
        f"- Python {m['python']}, uvicorn {m['uvicorn']}, FastAPI {m['fastapi']}, "
        f"pydantic {m['pydantic']}, SQLAlchemy {m['sqlalchemy']}; {m['wrk']}",
        f"- commit {m['commit']}; load average at start {m['loadavg_start'][0]:.2f}, "
        f"at end {m['loadavg_end'][0]:.2f} (other work on the machine shows up as noise)",
        f"- whole run: {results['minutes']} min",
        "",
        "## Commands",
        "",
        "```sh",
        "make bench                  # full run (about 32 min), rewrites this file",
        "BENCH_QUICK=1 make bench    # the same steps, shorter (about 15 min)",
        "PYTHONPATH=bench:backend/tests .venv/bin/python bench/pg.py   # §6 alone, prints JSON",
        "PYTHONPATH=bench:backend/tests .venv/bin/python bench/scaling.py [sqlite|postgresql]"
        "   # §4 and §6's scaling alone: tables and ratio lines",
        "```",
        "",
        "The server is `bench/server.py`: the product's `create_app` under uvicorn, configured as",
        "`todo-api serve` does (JSON access log line per request, to a file), pinned with",
        "`taskset -c 0`; the load generators run on core 1. Database: SQLite (WAL) in a temporary",
        "directory; §6 repeats the load and scaling runs on PostgreSQL when one answers at",
        "`BENCH_PG_URL`.",
        "",
        "## 1. Token verification (µs per call, in process)",
        "",
        "Cold: each token seen for the first time. Warm: the same token again.",
        "",
        "| algorithm | verifier | cold p50 | cold p99 | warm p50 | warm p99 |",
        "|---|---|---|---|---|---|",
    ]
    for kind in ("uncached", "cached"):
        for algorithm, r in a.get(kind, {}).items():
            lines.append(
                f"| {algorithm} | {kind} | {_f(r['cold_p50'])} | {_f(r['cold_p99'])} | "
                f"{_f(r['warm_p50'])} | {_f(r['warm_p99'])} |"
            )
    lines += [
        "",
        "## 2. Auth overhead in a request (in process, no sockets)",
        "",
        f"`GET /api/{{user}}/tasks` (20 tasks) through the whole app, {o['rounds']:,} rounds,",
        "interleaved: the real app against the same app whose `AuthMiddleware` is replaced by a",
        "stand-in that puts a fixed identity in scope (benchmark only; the product has no switch).",
        "",
        "| path | p50 (µs) | p99 (µs) |",
        "|---|---|---|",
        f"| real authentication | {_f(o['real_p50_us'], 0)} | {_f(o['real_p99_us'], 0)} |",
        f"| fixed identity | {_f(o['fixed_p50_us'], 0)} | {_f(o['fixed_p99_us'], 0)} |",
        f"| real authentication, token cache off (every request verifies) | "
        f"{_f(o['uncached_p50_us'], 0)} | |",
        f"| `GET /api/me` (middleware + dependency, no database) | {_f(o['me_p50_us'], 0)} | "
        f"{_f(o['me_p99_us'], 0)} |",
        "",
        f"**Ratio** fixed / real median = **{o['ratio']:.3f}** (target ≥ 0.95); with the token "
        f"cache off (HS256 verified on every request): {o['ratio_uncached']:.3f}.",
        "",
        "## 3. Load: 10,000 users, 100 connections (wrk, closed loop)",
        "",
        "Each of 10,000 users has a token and 20 tasks; every request uses one user's own token",
        "and ids: 70% list, 15% get, 5% create, 5% toggle, 5% update (`bench/mix.lua`).",
        "",
        LOAD_HEADER,
        "|---|---|---|---|---|---|---|---|",
        _load_row(results["load"]),
        _load_row(results["load_2_workers"]),
        "",
        "Both rows use one server core (`taskset -c 0`), so the 2-worker row shows whether a",
        "second process helps on the same core; requests/s per server core is the 1-worker row.",
        f"The 1-worker row: {_runs(results['load'])} (each run: {_rounds(results['load'])}); "
        "the 2-worker row is one run.",
        *floor_section(results.get("floor")),
        "",
        "### Latency against concurrency",
        "",
        "| connections | req/s | p50 ms | p90 ms | p99 ms | non-2xx |",
        "|---|---|---|---|---|---|",
    ]
    for r in results["sweep"]:
        lines.append(
            f"| {r['connections']} | {_f(r['rps'], 0)} | {_f(r['p50_ms'])} | {_f(r['p90_ms'])} | "
            f"{_f(r['p99_ms'])} | {r['non_2xx']} |"
        )
    if plotted:
        lines += ["", f"![latency percentiles against concurrency]({PLOT})"]
    ol = results["open_loop"]
    best = ol["best"]
    lines += [
        "",
        "### Open loop (fixed offered rate, coordinated omission corrected)",
        "",
        "`bench/openloop.py` sends request i at t0 + i/rate over up to 256 keep-alive connections",
        "and measures latency from that due time, so queueing in the client counts.",
        "",
        "| offered req/s | p50 ms | p90 ms | p99 ms | non-2xx | errors | within budget |",
        "|---|---|---|---|---|---|---|",
    ]
    for s in sorted(ol["steps"], key=lambda step: step["rate"]):
        lines.append(
            f"| {_f(s['rate'], 0)} | {_f(s['p50_ms'])} | {_f(s['p90_ms'])} | {_f(s['p99_ms'])} | "
            f"{s['non_2xx']} | {s['errors']} | {'yes' if s['ok'] else 'no'} |"
        )
    lines += [
        "",
        (
            f"**Highest offered rate with p99 < {ol['budget_ms']:.0f} ms: {_f(best['rate'], 0)} "
            f"req/s{_searches(ol)}.** The steps above are the median search's."
            if best
            else f"**No tested rate kept p99 under {ol['budget_ms']:.0f} ms{_searches(ol)}.**"
        ),
        "",
        "## 4. Scaling with data (list latency, in process)",
        "",
    ]
    lines += scaling_lines(results["scaling"])
    lines += ["", "## 5. Before and after each optimisation", ""]
    lines.append("Variants measured in this run (same data, same harness, 100 connections):")
    lines += [
        "",
        LOAD_HEADER,
        "|---|---|---|---|---|---|---|---|",
    ]
    lines += [_load_row(r) for r in results["variants"]]
    history = BENCH / "optimisations.md"
    if history.exists():
        lines += ["", history.read_text().rstrip()]
    lines += limits_section(results.get("limits"), results.get("limits_first_run"))
    lines += safe_writes_section(results.get("safe_writes"), results.get("safe_writes_first_run"))
    lines += postgresql_section(results.get("postgresql"))
    (docs / "benchmarks.md").write_text("\n".join(lines) + "\n")


def limits_section(limits: dict[str, Any] | None, first: dict[str, Any] | None = None) -> list[str]:
    """§5b: what counting the abuse limits costs (bench/limit_costs.py), interleaved rounds.
    `first`: an earlier run of the section in the same report, replaced by a longer one."""
    if not limits:
        return []
    earlier = (
        [
            "",
            f"This section was run again with five rounds, on the same revision minutes after the"
            f" rest: in the whole run its {first['rounds']} rounds gave in memory / off"
            f" **{first['ratio_memory']:.3f}**"
            + (
                f", in Redis / off **{first['ratio_redis']:.3f}**."
                if first.get("ratio_redis") is not None
                else "."
            ),
        ]
        if first
        else []
    )
    return [
        "",
        "## 5b. The cost of the abuse limits",
        "",
        f"Medians of {limits['rounds']} interleaved rounds, default budgets (never reached by the",
        "mix), 100 connections. Target: in memory ≥ 0.95 of limits off.",
        "",
        LOAD_HEADER,
        "|---|---|---|---|---|---|---|---|",
        *(_load_row(row) for row in limits["rows"]),
        "",
        f"Throughput in memory / off: **{limits['ratio_memory']:.3f}**"
        + (
            f"; in Redis / off: **{limits['ratio_redis']:.3f}**."
            if limits["ratio_redis"] is not None
            else "; Redis did not answer on 127.0.0.1:6379 (skipped)."
        ),
        *(
            [
                f"Median of the rounds' own ratios, in memory / off:"
                f" **{limits['paired_ratio_memory']:.3f}**"
                + (
                    f"; in Redis / off: **{limits['paired_ratio_redis']:.3f}**."
                    if limits.get("paired_ratio_redis") is not None
                    else "."
                )
            ]
            if "paired_ratio_memory" in limits
            else []
        ),
        f"Capacity (off's CPU per request / its own) in memory: "
        f"**{limits['cpu_ratio_memory']:.3f}**"
        + (
            f"; in Redis: **{limits['cpu_ratio_redis']:.3f}**."
            if limits["cpu_ratio_redis"] is not None
            else "."
        ),
        *earlier,
    ]


def safe_writes_section(
    safe: dict[str, Any] | None, first: dict[str, Any] | None = None
) -> list[str]:
    """§5c: what writing safely costs (bench/safe_writes.py), interleaved rounds. `first`: an
    earlier run of the section in the same report, replaced by a longer one and shown too."""
    if not safe:
        return []
    earlier = (
        [
            "",
            f"This section was run again, on the same revision minutes after the rest: in the"
            f" whole run its {first['rounds']} rounds gave safe / plain"
            f" **{first['ratio']:.3f}** (CPU **{first['cpu_ratio']:.3f}**), with identical"
            " rounds of the plain mix 380 to 455 req/s apart; hence five rounds and the paired"
            " ratio since.",
        ]
        if first
        else []
    )
    return [
        "",
        "## 5c. The cost of writing safely",
        "",
        f"Medians of {safe['rounds']} interleaved rounds, 100 connections: the mix as plain",
        "clients send it, and with an `Idempotency-Key` on every create and the task's ETag in",
        "`If-Match` on every toggle and update. Target: safe ≥ 0.95 of plain. Non-2xx in the",
        "safe rows are 412s: another connection wrote the task since this one read its version.",
        "",
        LOAD_HEADER,
        "|---|---|---|---|---|---|---|---|",
        *(_load_row(row) for row in safe["rows"]),
        "",
        f"Throughput safe / plain: **{safe['ratio']:.3f}** (medians)"
        + (
            f", **{safe['paired_ratio']:.3f}** (median of the rounds' own ratios)"
            if "paired_ratio" in safe
            else ""
        )
        + f"; capacity (plain's CPU per request / safe's): **{safe['cpu_ratio']:.3f}**.",
        *earlier,
    ]


def postgresql_section(pg: dict[str, Any] | None) -> list[str]:
    """§6: the load and scaling runs again, on PostgreSQL under Row-Level Security."""
    lines = ["", "## 6. PostgreSQL", ""]
    if not pg or "skipped" in pg:
        reason = pg["skipped"] if pg else "this run predates the PostgreSQL section"
        return [
            *lines,
            f"Not measured in this run: {reason}. Point `BENCH_PG_URL` at a superuser (default",
            "`postgresql+psycopg://postgres@127.0.0.1:5432/postgres`) and rerun `make bench`.",
        ]
    pool = pg["pool"]
    by_size = {r["table_rows"]: r["seed_s"] for r in pg["scaling"]}
    seeds = ", ".join(f"{rows:,} rows {_f(sec)} s" for rows, sec in by_size.items())
    lines += [
        f"{pg['version']} on the same machine ({pg['server']}). Roles: {pg['roles']}.",
        "",
        f"Server: `DB_POOL_SIZE={pool['DB_POOL_SIZE']}`, "
        f"`DB_MAX_OVERFLOW={pool['DB_MAX_OVERFLOW']}` per worker; uvicorn on core "
        f"{pg['server_cpus']}, wrk on core {pg['client_cpus']}. PostgreSQL is not pinned (its",
        f"processes may run on cores {pg['postgres_cpus']}), so it shares the cores with both:",
        "these rows measure server and database together, not one server core. Load average "
        f"{pg['loadavg_start']:.2f} when this section started (above about 1: other work on the "
        f"machine), {pg['loadavg_end']:.2f} at its end.",
        "",
        f"Seeding as the superuser through the same Core insert, then `VACUUM (ANALYZE)`: "
        f"200,000 rows (load) in {_f(pg['load_seed_s'])} s; scaling tables: {seeds}.",
        "",
        "### Load: 10,000 users, 100 connections (wrk, closed loop, `bench/mix.lua`)",
        "",
        LOAD_HEADER + " PostgreSQL connections opened |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for key in ("load", "load_2_workers", "load_larger_pool"):
        if key in pg:
            lines.append(f"{_load_row(pg[key])} {pg[key].get('db_sessions', 0):,} |")
    lines += [
        "",
        "Connections opened counts the warm-up too. A worker runs its transactions on",
        "`DB_POOL_SIZE` threads, one per kept connection, so it never opens and closes overflow",
        "connections under load (with 15 threads on a 5-connection pool, an earlier build opened",
        "2,432 connections for about 4,300 requests: research P7).",
        "",
        "### Scaling with data (list latency, in process, as the application role)",
        "",
        *scaling_lines(pg["scaling"]),
    ]
    return lines
