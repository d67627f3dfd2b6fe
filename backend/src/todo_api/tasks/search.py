"""Where `q` looks first: the trigrams of one owner's texts (migration 0007, research L4).

A search pattern of three characters or more shares each of its trigrams (three consecutive
characters) with every text it is found in. So the owner's tasks that hold one of the pattern's
trigrams are the only ones its LIKE can match: the LIKE stays the test, the trigrams only narrow
the tasks it reads. Both databases key the trigrams by owner, so a search reads one owner's
postings, never the table's.

- SQLite: the table `task_trigrams (owner_id, trigram, task_id)`, kept by triggers on `tasks`
  (so the previous release's writes are indexed too). The search takes the postings of one of
  the pattern's trigrams, chosen by `PICK`: the first, in `trigrams`' order (likely rare
  first), that the owner holds in at most `cap` tasks.
- PostgreSQL: a GIN index over `task_trigram_keys`, one 64-bit key per (owner, trigram), which
  migration 0007's function `task_trigram_matches` reads (Row-Level Security keeps an index from
  answering a condition that is not LEAKPROOF: research L3).

Trigrams of the stored texts are taken after the database's `lower()` (SQLite's: ASCII letters
only, as its LIKE ignores case for those alone); the pattern is already lower-cased (listing).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Integer, String, Table, bindparam, exists, func, literal, select
from sqlalchemy.orm import Mapped, mapped_column

from todo_api.db.driver import DriverStatement
from todo_api.db.orm import Base

# Shorter patterns hold no trigram: they test each of the owner's tasks, as before.
TRIGRAM = 3
# Letters of English text that most words hold, and the space between words: a trigram of
# these alone is likely held by many tasks, one with a digit or a rarer letter by few.
_COMMON = frozenset("etaoinshrdlcu ")
# At most this many of the pattern's trigrams are probed, each reading up to `cap` postings.
PROBED = 6


class TaskTrigramRow(Base):
    """SQLite only (migration 0007): one row per owner, trigram of a task's lower-cased title or
    description, and task (`tasks.id`, the rowid: the task is read from its posting directly).
    WITHOUT ROWID: the primary key is the table, an owner's trigram one range of it."""

    __tablename__ = "task_trigrams"
    __table_args__ = ({"sqlite_with_rowid": False},)

    owner_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    trigram: Mapped[str] = mapped_column(String(3), primary_key=True)
    task_id: Mapped[int] = mapped_column(Integer, primary_key=True)


class TrigramPositionRow(Base):
    """SQLite only (migration 0007): 1..DESCRIPTION_MAX, where a text's trigrams start. SQLite's
    triggers cannot use WITH RECURSIVE: its triggers join the texts with these positions."""

    __tablename__ = "task_trigram_positions"

    n: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)


TRIGRAMS: Table = TaskTrigramRow.__table__  # type: ignore[assignment]


def _rarity(trigram: str) -> int:
    return sum(2 if c in _COMMON else 1 if "a" <= c <= "z" else 0 for c in trigram)


def trigrams(text: str) -> list[str]:
    """The distinct trigrams of `text`, likely rarer first (digits, punctuation, other letters
    before the common ones): the first that few tasks hold is where a search starts."""
    found = dict.fromkeys(text[i : i + TRIGRAM] for i in range(len(text) - TRIGRAM + 1))
    return sorted(found, key=_rarity)


def _pick() -> DriverStatement:
    # json_each yields the array's elements in order, and without ORDER BY the LIMIT stops at the
    # first that passes: a trigram is probed only if those before it are held too often.
    candidate = func.json_each(bindparam("p_trigrams", type_=String)).table_valued("value")
    too_many: Any = (
        select(literal(1))
        .where(
            TRIGRAMS.c.owner_id == bindparam("p_owner_id"),
            TRIGRAMS.c.trigram == candidate.c.value,
        )
        .limit(1)
        .offset(bindparam("p_cap", type_=Integer))
    )
    return DriverStatement(select(candidate.c.value).where(~exists(too_many)).limit(1))


# SQLite: the trigram to start from, or none (every one probed is held by more than `p_cap`
# tasks: the pattern is frequent, and the LIKE over the owner's tasks in order fills a page soon).
PICK = _pick()
