"""The commands of docs/deploying.md, read from the page itself so that a test runs what the
reader will paste.

A recipe is a fenced block right after a marker line naming it:

    <!-- recipe: workers -->
    ```sh
    todo-api serve --workers "$WORKERS" --host 127.0.0.1 --port "$PORT"
    ```

Recipes say what differs between machines with shell variables (`$PORT`, `$DATABASE_URL`, ...),
which the test sets; everything else is run as written.
"""

from __future__ import annotations

import re
from pathlib import Path

DEPLOYING = Path(__file__).resolve().parents[2] / "docs" / "deploying.md"
_RECIPE = re.compile(r"<!-- recipe: ([\w.-]+) -->\n```[\w-]*\n(.*?)```", re.DOTALL)


def recipes(page: Path = DEPLOYING) -> dict[str, str]:
    """Every recipe of the page, by name."""
    found: dict[str, str] = {}
    for name, body in _RECIPE.findall(page.read_text()):
        assert name not in found, f"{page.name}: two recipes named {name!r}"
        found[name] = body
    return found


def recipe(name: str, page: Path = DEPLOYING) -> str:
    """The text of one recipe (a command block or a configuration file), as written."""
    everything = recipes(page)
    assert name in everything, f"{page.name} has no recipe {name!r} (<!-- recipe: {name} -->)"
    return everything[name]
