"""The README stays the newcomer's quick path, and every page it links to exists."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

pytestmark = pytest.mark.unit

REPO = Path(__file__).resolve().parents[3]
README = REPO / "README.md"


def test_the_readme_stays_short_with_the_rest_in_docs() -> None:
    size = len(README.read_bytes())
    assert size < 14_000, f"README.md is {size} bytes: move a section into docs/"


def test_every_local_link_of_the_readme_and_docs_exists() -> None:
    for page in [README, *sorted((REPO / "docs").glob("*.md"))]:
        for target in re.findall(r"\]\(([^)#:]+)(?:#[^)]*)?\)", page.read_text()):
            assert (page.parent / target).exists(), f"{page.name} links to missing {target}"


def test_every_recipe_of_the_deploying_page_is_run_by_a_test() -> None:
    from fixtures.doc_recipes import DEPLOYING, recipes

    tests = "\n".join(path.read_text() for path in (REPO / "backend" / "tests").rglob("test_*.py"))
    for name in recipes(DEPLOYING):
        assert f'recipe("{name}")' in tests, f"no test runs the recipe {name!r} of deploying.md"


def test_make_help_prints_the_real_address() -> None:
    shown = subprocess.run(
        ["make", "-s", "-C", str(REPO), "help", "HOST=0.0.0.0", "PORT=8001"],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout
    assert "serve on http://0.0.0.0:8001 " in shown
    assert "$(" not in shown
