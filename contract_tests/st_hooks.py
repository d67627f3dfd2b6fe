"""Schemathesis hooks shared by the in-process suite and the CLI run (`hooks = "st_hooks"`).

- `PathUserBearer` authenticates every generated case as the user its path names, so positive
  cases reach 2xx instead of stopping at 403.
- `unauthenticated_replays` replays every `/api` case with six kinds of bad credentials.
- `cross_user_isolation` replays every successful case as another user and checks that the
  victim's data neither leaks nor changes.

Checks are plain functions: an AssertionError is a finding; returning True means "not applicable".
"""

from __future__ import annotations

import base64
import json
import re
import time
from pathlib import Path
from typing import Any

import jwt
import schemathesis
import yaml
from schemathesis import Case, Response

import st_limits  # noqa: F401  (registers the 429 check)
from api_fixtures import OTHER_SECRET, SECRET

SPEC = Path(__file__).resolve().parents[1] / "openapi" / "openapi.yaml"
# The contract's own word on what a user id is (components.parameters.UserId).
USER_ID = re.compile(
    yaml.safe_load(SPEC.read_text())["components"]["parameters"]["UserId"]["schema"]["pattern"]
)
FALLBACK_USER = "alice"
PROBLEM_KEYS = {"type", "title", "status", "detail", "errors"}
MISSING_TASK_ID = 2**63 - 1


def token_for(sub: str, *, secret: str = SECRET, ttl: int = 600) -> str:
    now = int(time.time())
    return jwt.encode({"sub": sub, "iat": now, "exp": now + ttl}, secret, algorithm="HS256")


def _b64(data: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=")


def _path_user(case: Case) -> str | None:
    user = (case.path_parameters or {}).get("user_id")
    return user if isinstance(user, str) and USER_ID.fullmatch(user) else None


@schemathesis.auth(refresh_interval=None, retry_on=[])
class PathUserBearer:
    """A fresh token whose `sub` is the case's own path `user_id` (or a fixed user)."""

    def get(self, case: Case, ctx: Any) -> str:
        return token_for(_path_user(case) or FALLBACK_USER)

    def set(self, case: Case, data: str, ctx: Any) -> None:
        case.headers = case.headers or {}
        case.headers["Authorization"] = f"Bearer {data}"


def bad_credentials(victim: str) -> dict[str, str | None]:
    now = int(time.time())
    genuine = token_for(victim)
    header, _, signature = genuine.split(".")
    tampered = f"{header}.{_b64({'sub': 'mallory-' + victim[:8], 'exp': now + 600})}.{signature}"
    return {
        "no token": None,
        "garbage": "Bearer not.a.token",
        "expired": f"Bearer {token_for(victim, ttl=-3600)}",
        "other secret": f"Bearer {token_for(victim, secret=OTHER_SECRET)}",
        "alg none": f"Bearer {_b64({'alg': 'none'})}.{_b64({'sub': victim, 'exp': now + 600})}.",
        "tampered sub": f"Bearer {tampered}",
    }


def _without_auth(case: Case) -> dict[str, Any]:
    return {k: v for k, v in (case.headers or {}).items() if k.lower() != "authorization"}


def _header(response: Response, name: str) -> str | None:
    values = response.headers.get(name.lower())
    return values[0] if values else None


@schemathesis.check
def unauthenticated_replays(ctx: Any, response: Response, case: Case) -> bool | None:
    """Every /api request, replayed without a valid token, is 401 with a bearer challenge."""
    if not case.path.startswith("/api"):
        return True
    for label, credential in bad_credentials(_path_user(case) or FALLBACK_USER).items():
        headers = _without_auth(case)
        if credential is not None:
            headers["Authorization"] = credential
        replay = case.derive(headers=headers).call()
        assert replay.status_code == 401, (
            f"{case.method} {case.formatted_path} with {label}: {replay.status_code}, not 401"
        )
        challenge = _header(replay, "www-authenticate") or ""
        assert challenge.startswith("Bearer "), f"{label}: 401 without a Bearer challenge"
    return None


def _as(case: Case, user: str, **path: Any) -> Case:
    probe = case.derive(
        headers={**_without_auth(case), "Authorization": f"Bearer {token_for(user)}"}
    )
    probe.path_parameters.update(path)
    return probe


def _tasks_of(case: Case, owner: str) -> list[dict[str, Any]]:
    """The owner's tasks, read back by the owner, every page."""
    listing = case.operation.schema["/api/{user_id}/tasks"]["GET"]
    items: list[dict[str, Any]] = []
    cursor: str | None = None
    for _ in range(1000):
        query = {"limit": 100, **({"cursor": cursor} if cursor else {})}
        page = listing.Case(
            path_parameters={"user_id": owner},
            query=query,
            headers={"Authorization": f"Bearer {token_for(owner)}"},
        ).call()
        assert page.status_code == 200, f"owner cannot list own tasks: {page.status_code}"
        body = page.json()
        items += body["items"]
        cursor = body["next_cursor"]
        if cursor is None:
            break
    return items


@schemathesis.check
def cross_user_isolation(ctx: Any, response: Response, case: Case) -> bool | None:
    """Another user's token learns and changes nothing of the owner's data."""
    owner = _path_user(case)
    if owner is None or not 200 <= response.status_code < 300:
        return True
    attacker = "mallory" if owner != "mallory" else "eve"
    before = _tasks_of(case, owner)

    # The attacker names the owner in the path: 403, and nothing of the owner's in the answer.
    replay = _as(case, attacker).call()
    assert replay.status_code == 403, (
        f"another user's token got {replay.status_code} on {owner}'s path"
    )
    leaked = set(replay.json()) - PROBLEM_KEYS
    assert not leaked, f"403 body carries {sorted(leaked)}"

    # The attacker lists their own tasks: none of the owner's may appear.
    task_id = (case.path_parameters or {}).get("task_id")
    if case.method == "GET" and task_id is None:
        own = _as(case, attacker, user_id=attacker).call()
        assert own.status_code == 200, f"the attacker's own list answered {own.status_code}"
        seen = {task["id"] for task in own.json()["items"]} & {task["id"] for task in before}
        assert not seen, f"another user's list shows the owner's tasks {sorted(seen)}"

    # The attacker names the owner's task in their own path: the same 404 as a missing task.
    if task_id is not None:
        foreign = _as(case, attacker, user_id=attacker).call()
        missing = _as(case, attacker, user_id=attacker, task_id=MISSING_TASK_ID).call()
        assert foreign.status_code == 404, f"another user's task answered {foreign.status_code}"
        assert foreign.content == missing.content, "another user's task differs from a missing one"

    after = _tasks_of(case, owner)
    assert after == before, "the owner's tasks changed after another user's requests"
    return None
