"""Entity tags of tasks and the conditional-request headers that compare them (RFC 9110 §13).

Plain functions, no FastAPI: a task's ETag is its version as a strong tag, `"3"`. `If-Match`
compares strongly (a weak tag never matches, §13.1.1); `If-None-Match` weakly (§13.1.2).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

# One entity-tag of a list (§8.8.3): optional W/, then a quoted run of etagc characters.
_ENTITY_TAG = re.compile(r'\s*(W/)?"([\x21\x23-\x7e\x80-\xff]*)"\s*(?:,|$)')
_VERSION = re.compile(r"[1-9][0-9]{0,18}")


def etag(version: int) -> str:
    return f'"{version}"'


@dataclass(frozen=True, slots=True)
class Condition:
    """A parsed If-Match or If-None-Match: `*`, or the versions its tags name.

    A tag this server never issued (not a version, or unparseable) names no version: it matches
    nothing, so a garbled If-Match fails closed (412) rather than writing unconditionally.
    """

    any: bool
    strong: frozenset[int]
    weak: frozenset[int]

    def matches_strongly(self, version: int) -> bool:
        return self.any or version in self.strong

    def matches_weakly(self, version: int) -> bool:
        return self.any or version in self.strong or version in self.weak


def parse(value: str) -> Condition:
    """`*` or a comma-separated list of entity tags; a list that does not parse matches nothing."""
    if value.strip() == "*":
        return Condition(True, frozenset(), frozenset())
    strong: set[int] = set()
    weak: set[int] = set()
    position = 0
    while position < len(value):
        match = _ENTITY_TAG.match(value, position)
        if match is None or match.end() == position:
            return Condition(False, frozenset(), frozenset())  # garbled: matches nothing
        position = match.end()
        if _VERSION.fullmatch(match.group(2)):
            (weak if match.group(1) else strong).add(int(match.group(2)))
    return Condition(False, frozenset(strong), frozenset(weak))
