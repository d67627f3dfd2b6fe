"""Before/after of product changes: one wrk scenario against several git revisions, interleaved.

    PYTHONPATH=bench:backend/tests .venv/bin/python bench/compare.py REV_A REV_B [--rounds 3]
        [--postgres]

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
    sources = [extract(revision) for revision in args.revisions]
    runs: dict[str, list[dict[str, Any]]] = {sha: [] for sha, _ in sources}
    for _ in range(min(args.rounds, 10)):
        for sha, source in sources:
            result = load.scenario(
                pristine, users_file, sha, connections=args.connections,
                seconds=args.seconds, source=source, **server,
            )  # fmt: skip
            runs[sha].append(result)
    summary = []
    for sha, results in runs.items():
        row = {"revision": sha, "rounds": len(results)}
        for key in ("rps", "p50_ms", "p90_ms", "p99_ms"):
            row[key] = statistics.median(r[key] for r in results)
        row["non_2xx"] = sum(r["non_2xx"] for r in results)
        row["socket_errors"] = sum(r["socket_errors"] for r in results)
        summary.append(row)
        print(
            f"| {sha} | {row['rps']:.0f} | {row['p50_ms']:.1f} | {row['p90_ms']:.1f} | "
            f"{row['p99_ms']:.1f} | {row['non_2xx']} | {row['socket_errors']} |"
        )
    out = work_dir() / f"compare-{'-'.join(sha for sha, _ in sources)}.json"
    out.write_text(json.dumps({"summary": summary, "runs": runs}, indent=2))
    print(f"raw figures: {out}")


if __name__ == "__main__":
    main()
