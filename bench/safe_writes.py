"""The cost of writing safely (issue 13): the mix as plain clients send it, and as careful ones
do, with an `Idempotency-Key` on every create and the task's ETag in `If-Match` on every toggle
and update (bench/mix.lua, BENCH_SAFE_WRITES=1), interleaved round by round in one run.

The requests are the same: a keyed create also stores its answer in the same transaction, and a
conditional write adds `AND version IN (…)` to its statement. Target: safe ≥ 0.95 of plain.
A 412 (another wrk thread wrote the task since this one saw its version) counts as non-2xx; it
is rare, as a run writes a few hundred of the 200,000 seeded tasks.
"""

from __future__ import annotations

import statistics
from pathlib import Path
from typing import Any

import load
from common import QUICK
from limit_costs import median_row
from stores import Target

# Both with a fresh random sequence per wrk run (mix.lua): the measured run does not write the
# tasks the warm-up wrote, whose ETags this client never saw.
VARIANTS: dict[str, dict[str, str]] = {
    "plain writes": {"BENCH_FRESH_SEED": "1"},
    "If-Match + Idempotency-Key": {"BENCH_FRESH_SEED": "1", "BENCH_SAFE_WRITES": "1"},
}


def run(pristine: Target, users_file: Path) -> dict[str, Any]:
    # Identical rounds of this mix differ by up to 20 % here: five rounds, and the ratio also
    # taken round by round (each pair ran back to back), whose median the neighbours move less.
    rounds = 3 if QUICK else 5
    runs: dict[str, list[dict[str, Any]]] = {name: [] for name in VARIANTS}
    for turn in range(rounds):
        names = list(VARIANTS)
        for name in names[turn % 2 :] + names[: turn % 2]:
            runs[name].append(
                load.scenario(
                    pristine,
                    users_file,
                    name,
                    seconds=5 if QUICK else 10,
                    wrk_env=VARIANTS[name],
                )
            )
    plain, safe = (median_row(name, results) for name, results in runs.items())
    pairs = zip(*runs.values(), strict=True)
    return {
        "rounds": rounds,
        "rows": [plain, safe],
        "ratio": safe["rps"] / plain["rps"],
        "paired_ratio": statistics.median(s["rps"] / p["rps"] for p, s in pairs),
        # The steadier figure on a shared machine: the inverse of the CPU each request costs.
        "cpu_ratio": plain["cpu_us_per_request"] / safe["cpu_us_per_request"],
    }
