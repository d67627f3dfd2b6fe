"""Interleaved A/B of server options on one revision: the event loop, the HTTP protocol, the
floor, an environment setting (issue 15). `bench/compare.py` does the same across revisions.

    PYTHONPATH=bench:backend/tests .venv/bin/python bench/variants.py \
        "uvloop=loop:uvloop" "asyncio=loop:asyncio" "floor=script:floor.py" \
        "normal=env:BENCH_SQLITE_SYNCHRONOUS=NORMAL" [--rounds 3] [--seconds 10]

Each argument is NAME=KEY:VALUE[,KEY:VALUE...] with KEY one of `loop`, `http`, `script`,
`workers` or `env` (VALUE then NAME=VALUE, passed to the server's environment). Prints one row
per variant (medians) and writes the raw rounds next to the benchmark's data.
"""

from __future__ import annotations

import argparse
import json
from typing import Any

import load
from common import work_dir


def parse(spec: str) -> tuple[str, dict[str, Any]]:
    name, _, options = spec.partition("=")
    server: dict[str, Any] = {}
    settings: dict[str, str] = {}
    for item in filter(None, options.split(",")):
        key, _, value = item.partition(":")
        if key == "env":
            variable, _, setting = value.partition("=")
            settings[variable] = setting
        elif key == "workers":
            server["workers"] = int(value)
        elif key in {"loop", "http", "script"}:
            server[key] = value
        else:
            raise SystemExit(f"unknown option {key!r} in {spec!r}")
    if settings:
        server["settings"] = settings
    return name, server


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("variants", nargs="+")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--connections", type=int, default=100)
    args = parser.parse_args()
    contenders = dict(parse(spec) for spec in args.variants)
    pristine, users_file = load.reuse_or_prepare()
    rows = load.interleaved(
        pristine,
        users_file,
        contenders,
        args.rounds,
        seconds=args.seconds,
        connections=args.connections,
    )
    print(
        "| variant | req/s | p50 ms | p90 ms | p99 ms | p99/p50 | CPU µs/req | non-2xx | errors |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    for name, row in rows.items():
        print(
            f"| {name} | {row['rps']:.0f} | {row['p50_ms']:.1f} | {row['p90_ms']:.1f} | "
            f"{row['p99_ms']:.1f} | {row['tail_ratio']:.1f} | {row['cpu_us_per_request']:.0f} | "
            f"{row['non_2xx']} | {row['socket_errors']} |"
        )
    out = work_dir() / f"variants-{'-'.join(contenders)}.json"
    out.write_text(json.dumps(rows, indent=2))
    print(f"raw figures: {out}")


if __name__ == "__main__":
    main()
