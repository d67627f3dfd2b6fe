"""The contract's list is read back by the ownership checks through its sorted, filtered and
searched pages too (`x-lists` `views`), so a sort or a search that leaks another user's tasks is
seen (test_suite_bites.py holds the broken variant)."""

from __future__ import annotations

from schemathesis_ownership import declarations
from todo_api.spec import load_spec


def test_the_product_reads_its_lists_back_sorted_filtered_and_searched() -> None:
    (listing,) = declarations.read(load_spec()).listings
    params = {name for view in listing.views for name in view}
    assert {"sort", "q", "priority", "due_after", "status", "limit"} <= params
