"""Before/after of product changes: one wrk scenario against several git revisions, interleaved.

    PYTHONPATH=bench:backend/tests .venv/bin/python bench/compare.py REV_A REV_B [--rounds 3]
        [--postgres] [--with NAME=VALUE ...]

`--with METRICS_PORT=19100` also runs each revision with that environment (a setting switched on),
in the same interleaved rounds, as `<sha>_with_metrics_port`, and prints its throughput as a ratio
of the revision's own.

Each revision's `backend/src` and `openapi/` are extracted with `git archive` and imported ahead
of the installed package. Rounds alternate the revisions (A B A B ...), so drift and other load
on the machine hit each alike; the medians are reported.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import tarfile
from io import BytesIO
from pathlib import Path
from typing import Any

import load
import pg
from common import REPO, work_dir
from stores import Target


def extract(revision: str) -> tuple[str, Path]:
    sha = subprocess.run(
        ["git", "rev-parse", "--short", revision],
        capture_output=True, text=True, cwd=REPO, check=True,
    ).stdout.strip()  # fmt: skip
    root = work_dir() / f"rev-{sha}"
    if not root.exists():
        archive = subprocess.run(
            ["git", "archive", "--format=tar", sha, "backend/src", "openapi"],
            capture_output=True, cwd=REPO, check=True,
        ).stdout  # fmt: skip
        with tarfile.open(fileobj=BytesIO(archive)) as tar:
            tar.extractall(root, filter="data")
    return sha, root / "backend" / "src"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("revisions", nargs="+")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--connections", type=int, default=100)
    parser.add_argument("--postgres", action="store_true", help="on BENCH_PG_URL, as bench/pg.py")
    parser.add_argument(
        "--with", dest="variant", action="append", default=[], metavar="NAME=VALUE",
        help="also run each revision with this environment, interleaved (repeatable)",
    )  # fmt: skip
    args = parser.parse_args()
    if args.postgres:
        store = pg.PostgresStore(pg.ADMIN_URL)
        try:
            pristine, users_file, _ = load.prepare(store)
            compare(args, pristine, users_file, settings=pg.POOL)
        finally:
            store.drop_all()
        return
    pristine, users_file = load.reuse_or_prepare()
    compare(args, pristine, users_file)


def compare(args: argparse.Namespace, pristine: Target, users_file: Path, **server: Any) -> None:
    variant = dict(item.split("=", 1) for item in args.variant)
    base_settings = server.pop("settings", {})
    # (name, source, settings): each revision as it is, then with the variant's environment.
    sources: list[tuple[str, Path, dict[str, str]]] = []
    for sha, source in (extract(revision) for revision in args.revisions):
        sources.append((sha, source, dict(base_settings)))
        if variant:
            # A plain name: it also names the scenario's database (a PostgreSQL identifier).
            name = f"{sha}_with_" + "_".join(key.lower() for key in variant)
            sources.append((name, source, {**base_settings, **variant}))
    runs: dict[str, list[dict[str, Any]]] = {name: [] for name, _, _ in sources}
    for _ in range(min(args.rounds, 10)):
        for name, source, settings in sources:
            result = load.scenario(
                pristine, users_file, name, connections=args.connections,
                seconds=args.seconds, source=source, settings=settings, **server,
            )  # fmt: skip
            runs[name].append(result)
    summary = []
    for sha, results in runs.items():
        row = {"revision": sha, "rounds": len(results)}
        for key in ("rps", "p50_ms", "p90_ms", "p99_ms", "cpu_us_per_request"):
            row[key] = statistics.median(r[key] for r in results)
        row["non_2xx"] = sum(r["non_2xx"] for r in results)
        row["socket_errors"] = sum(r["socket_errors"] for r in results)
        summary.append(row)
        print(
            f"| {sha} | {row['rps']:.0f} | {row['p50_ms']:.1f} | {row['p90_ms']:.1f} | "
            f"{row['p99_ms']:.1f} | {row['non_2xx']} | {row['socket_errors']} | "
            f"{row['cpu_us_per_request']:.0f} |"
        )
    if variant:
        rows = {row["revision"]: row for row in summary}
        for name, _, _ in sources:
            base = name.split("_with_", 1)[0]
            if name != base:
                # Capacity on a busy core is the inverse of the CPU time each request costs.
                ratio_rps = rows[name]["rps"] / rows[base]["rps"]
                cpu = rows[base]["cpu_us_per_request"] / rows[name]["cpu_us_per_request"]
                print(
                    f"{name} against {base} (medians): throughput {ratio_rps:.3f}, "
                    f"CPU per request {cpu:.3f} (capacity ratio)"
                )
    out = work_dir() / f"compare-{'-'.join(name for name, _, _ in sources)}.json"
    out.write_text(json.dumps({"summary": summary, "runs": runs}, indent=2))
    print(f"raw figures: {out}")


if __name__ == "__main__":
    main()
