"""Tests mirror the code: each module of backend/src/todo_api/ has its test module of the same name
(`auth/tokens.py` -> `backend/tests/auth/test_tokens.py`), or is listed below with the reason it
has none, so that the tests guarding a module are found by its name.

Suites that cut across modules live in named folders (security/, operations/, project/); the
suite's helpers in fixtures/. A listed module that gets its test module must leave the list.
"""

from __future__ import annotations

from pathlib import Path

import pytest

pytestmark = pytest.mark.unit

TESTS = Path(__file__).resolve().parent
SRC = TESTS.parent / "src" / "todo_api"

# A module (its path under todo_api/) or a folder (ending in "/") -> why it has no test module.
UNMIRRORED: dict[str, str] = {
    "db/migrations/": "each migration is run on the data of the release before it, on both "
    "databases: db/test_lifecycle.py (0004, 0005, migrations equal the models), "
    "tasks/test_safe_writes.py (0002), tasks/test_idempotency.py (0003)",
    "db/orm.py": "declarations only (the base and shared column types); db/test_lifecycle.py "
    "compares the models with the migrations",
    "auth/jwks_document.py": "read through the key set that uses it: auth/test_keys.py (unusable "
    "and refused keys) and security/test_jwks_issuer.py (junk and keyless documents)",
    "auth/routes.py": "one route, GET /api/me: security/test_auth_matrix.py and the contract tests",
    "ratelimit/policy.py": "parsed by the settings (settings/test_limits.py, settings/"
    "test_refusals.py) and announced in every answer's RateLimit fields "
    "(ratelimit/test_middleware.py)",
    "ratelimit/responses.py": "the 429 and its header fields, checked where they are given: "
    "ratelimit/test_middleware.py and ratelimit/test_auth_failures.py",
    "routing.py": "the request's shape across every operation: security/test_request_shape.py",
    "scope.py": "names of scope keys, no behaviour",
    "state.py": "the typed state create_app builds, no behaviour of its own (test_main.py)",
    "settings/tasks.py": "its refusals are pinned in settings/test_refusals.py; what it sets is "
    "enforced in tasks/test_routes.py (the quota), tasks/test_safe_writes.py (If-Match) and "
    "tasks/test_idempotency.py",
    "tasks/service.py": "each use case through its route, on both databases: tasks/test_routes.py, "
    "tasks/test_safe_writes.py, tasks/test_idempotency.py, tasks/test_lists.py",
}


def mirrored(module: Path) -> Path:
    relative = module.relative_to(SRC)
    return TESTS / relative.parent / f"test_{relative.stem}.py"


def listed(relative: str) -> bool:
    return relative in UNMIRRORED or any(
        key.endswith("/") and relative.startswith(key) for key in UNMIRRORED
    )


def test_every_module_has_its_test_module_or_a_reason() -> None:
    # A package's __init__.py only re-exports (STYLE.md); the package is mirrored by its folder.
    modules = [module for module in SRC.rglob("*.py") if module.name != "__init__.py"]
    assert len(modules) > 40
    missing = [
        module.relative_to(SRC).as_posix()
        for module in modules
        if not mirrored(module).is_file() and not listed(module.relative_to(SRC).as_posix())
    ]
    assert missing == [], "add a test module of the mirrored name, or list it in UNMIRRORED"


def test_every_package_has_its_test_folder() -> None:
    packages = [init.parent for init in SRC.rglob("__init__.py")]
    missing = [
        package.relative_to(SRC).as_posix()
        for package in packages
        if not (TESTS / package.relative_to(SRC)).is_dir()
        and not listed(f"{package.relative_to(SRC).as_posix()}/")
    ]
    assert missing == []


@pytest.mark.parametrize("relative", sorted(UNMIRRORED))
def test_each_listed_module_exists_has_no_test_module_and_a_reason(relative: str) -> None:
    assert UNMIRRORED[relative].strip()
    if relative.endswith("/"):
        folder = SRC / relative
        assert folder.is_dir(), f"{relative} is gone: take it off the list"
        assert not (TESTS / relative).is_dir(), f"{relative} has tests now: take it off the list"
    else:
        module = SRC / relative
        assert module.is_file(), f"{relative} is gone: take it off the list"
        assert not mirrored(module).is_file(), f"{relative} has its test now: take it off"
