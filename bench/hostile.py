"""The cost of the request-head limits and read deadlines (issue 19): the same revision served
with uvicorn's plain httptools protocol, with the product's guarded subclass, and with h11 (whose
16 KiB incomplete-event limit was the alternative), in interleaved rounds on SQLite.

    PYTHONPATH=bench:backend/tests .venv/bin/python bench/hostile.py [--rounds 4] [--seconds 10]
"""

from __future__ import annotations

import argparse
import json
import statistics
from typing import Any

import load
from common import work_dir

VARIANTS = {"httptools": "httptools", "guarded": "guarded", "h11": "h11"}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--connections", type=int, default=100)
    parser.add_argument("--variants", default=",".join(VARIANTS))
    args = parser.parse_args()
    pristine, users_file = load.reuse_or_prepare()
    names = args.variants.split(",")
    runs: dict[str, list[dict[str, Any]]] = {name: [] for name in names}
    for _ in range(args.rounds):  # A B C A B C ...: drift and neighbours hit each alike
        for name in names:
            result = load.scenario(
                pristine, users_file, name, connections=args.connections,
                seconds=args.seconds, http=VARIANTS[name],
            )  # fmt: skip
            runs[name].append(result)
    base = statistics.median(r["rps"] for r in runs[names[0]])
    print("| protocol | req/s (median) | vs first | p50 ms | p99 ms | non-2xx | errors |")
    print("|---|---|---|---|---|---|---|")
    summary = []
    for name, results in runs.items():
        row = {"protocol": name, "rounds": len(results)}
        for key in ("rps", "p50_ms", "p90_ms", "p99_ms"):
            row[key] = statistics.median(r[key] for r in results)
        row["ratio"] = row["rps"] / base
        row["non_2xx"] = sum(r["non_2xx"] for r in results)
        row["socket_errors"] = sum(r["socket_errors"] for r in results)
        summary.append(row)
        print(
            f"| {name} | {row['rps']:.0f} | {row['ratio']:.3f} | {row['p50_ms']:.1f} | "
            f"{row['p99_ms']:.1f} | {row['non_2xx']} | {row['socket_errors']} |"
        )
    out = work_dir() / "hostile-ab.json"
    out.write_text(json.dumps({"summary": summary, "runs": runs}, indent=2))
    print(f"raw figures: {out}")


if __name__ == "__main__":
    main()
