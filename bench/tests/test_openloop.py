"""The open loop's figure is the median of its searches, and the report names every one: a
search that held nothing counts as the lowest, not as a gap (research P38)."""

from __future__ import annotations

from typing import Any

import openloop
import report


def _search(rate: float | None) -> dict[str, Any]:
    best = {"rate": rate, "p99_ms": 20.0} if rate else None
    return {"budget_ms": openloop.BUDGET_MS, "best": best, "steps": [{"rate": rate or 470.0}]}


def test_the_figure_is_the_median_search_and_every_search_is_kept() -> None:
    chosen = openloop.median_search([_search(1140), _search(940), _search(1020)])
    assert chosen["best"]["rate"] == 1020
    assert chosen["searches"] == [1140, 940, 1020]


def test_a_search_that_held_nothing_ranks_lowest() -> None:
    chosen = openloop.median_search([_search(None), _search(940), _search(None)])
    assert chosen["best"] is None
    assert chosen["searches"] == [0, 940, 0]


def test_the_report_names_every_search_beside_the_median() -> None:
    line = report._searches(openloop.median_search([_search(1140), _search(940), _search(1020)]))
    assert line.endswith("the median of 3 searches, each on a fresh server: 1,140, 940, 1,020")
    assert report._searches(_search(940)) == ""
