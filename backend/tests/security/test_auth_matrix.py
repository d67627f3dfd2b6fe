"""Every operation against: no token, garbage, expired, bad signature, another user, own token."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from fixtures.api import (
    User,
    all_tasks,
    asgi_client,
    create_task,
    make_settings,
    mint,
    running_app,
)
from fixtures.keys import OTHER_SECRET

pytestmark = pytest.mark.anyio


@dataclass(frozen=True)
class Op:
    method: str
    path: str  # {user} and {task} are filled in per test
    json: dict[str, Any] | None = None
    success: int = 200


OPERATIONS = [
    Op("GET", "/api/{user}/tasks"),
    Op("POST", "/api/{user}/tasks", {"title": "new"}, 201),
    Op("GET", "/api/{user}/tasks/{task}"),
    Op("PUT", "/api/{user}/tasks/{task}", {"title": "t", "description": None, "completed": True}),
    Op("PATCH", "/api/{user}/tasks/{task}", {"completed": True}),
    Op("PATCH", "/api/{user}/tasks/{task}/complete"),
    Op("DELETE", "/api/{user}/tasks/{task}", success=204),
]
OP_IDS = [f"{op.method} {op.path}" for op in OPERATIONS]

BAD_CREDENTIALS = {
    "none": None,
    "garbage": "Bearer not-a-jwt",
    "expired": f"Bearer {mint('alice', ttl=-3600)}",
    "wrong-signature": f"Bearer {mint('alice', secret=OTHER_SECRET)}",
    "alg-none": "Bearer eyJhbGciOiJub25lIn0.eyJzdWIiOiJhbGljZSIsImV4cCI6OTk5OTk5OTk5OX0.",
    # Signed with the right secret: only the claims are wrong.
    "no-exp": f"Bearer {mint('alice', omit=('exp',))}",
    "no-sub": f"Bearer {mint('alice', ttl=3600, omit=('sub',))}",
    "audience-unconfigured": f"Bearer {mint('alice', ttl=3600, aud='http://127.0.0.1:8001')}",
    "wrong-scheme": f"Basic {mint('alice')}",
}


def _url(op: Op, user: str, task: int) -> str:
    return op.path.format(user=user, task=task)


@pytest.mark.parametrize("credential", list(BAD_CREDENTIALS), ids=list(BAD_CREDENTIALS))
@pytest.mark.parametrize("op", OPERATIONS, ids=OP_IDS)
async def test_bad_credentials_get_401_and_change_nothing(
    client: httpx.AsyncClient, alice: User, op: Op, credential: str
) -> None:
    task = await create_task(client, alice)
    before = await all_tasks(client, alice)
    value = BAD_CREDENTIALS[credential]
    headers = {"Authorization": value} if value else {}

    response = await client.request(
        op.method, _url(op, "alice", task["id"]), json=op.json, headers=headers
    )

    assert response.status_code == 401
    assert response.headers["content-type"] == "application/problem+json"
    challenge = response.headers["www-authenticate"]
    assert challenge.startswith('Bearer realm="todo-api"')
    if credential in {"none", "wrong-scheme"}:
        assert "error=" not in challenge  # RFC 6750 §3.1: no error code when no token was sent
    else:
        assert 'error="invalid_token"' in challenge
        assert "error_description=" in challenge
    body = response.json()
    assert body["status"] == 401
    assert body["type"] == "urn:todo-api:problem:invalid-token"
    if value:
        token = value.split(" ", 1)[1]
        assert token not in response.text
        assert token not in challenge
    assert await all_tasks(client, alice) == before


@pytest.mark.parametrize("op", OPERATIONS, ids=OP_IDS)
async def test_other_users_token_gets_403_and_changes_nothing(
    client: httpx.AsyncClient, alice: User, bob: User, op: Op
) -> None:
    task = await create_task(client, alice)
    before = await all_tasks(client, alice)

    response = await client.request(
        op.method, _url(op, alice.id, task["id"]), json=op.json, headers=bob.headers
    )

    assert response.status_code == 403
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["type"] == "urn:todo-api:problem:forbidden"
    assert "mine" not in response.text
    assert await all_tasks(client, alice) == before


@pytest.mark.parametrize("op", OPERATIONS, ids=OP_IDS)
async def test_403_is_the_same_whether_the_other_user_exists_or_not(
    client: httpx.AsyncClient, alice: User, bob: User, op: Op
) -> None:
    await create_task(client, bob)  # bob exists (has data); "nobody" never did
    existing = await client.request(
        op.method, _url(op, bob.id, 1), json=op.json, headers=alice.headers
    )
    missing = await client.request(
        op.method, _url(op, "nobody", 1), json=op.json, headers=alice.headers
    )
    assert existing.status_code == missing.status_code == 403
    assert existing.content == missing.content


@pytest.mark.parametrize("op", OPERATIONS, ids=OP_IDS)
async def test_own_token_succeeds(client: httpx.AsyncClient, alice: User, op: Op) -> None:
    task = await create_task(client, alice)
    response = await client.request(
        op.method, _url(op, alice.id, task["id"]), json=op.json, headers=alice.headers
    )
    assert response.status_code == op.success, response.text
    assert response.headers["server-timing"].startswith("auth;dur=")


async def test_me_reflects_the_verified_token(client: httpx.AsyncClient, alice: User) -> None:
    response = await client.get("/api/me", headers=alice.headers)
    assert response.status_code == 200
    body = response.json()
    assert body["user_id"] == "alice"
    assert body["email"] == "alice@example.com"
    assert body["name"] == "Alice"
    assert body["expires_at"].endswith("Z")


async def test_me_without_optional_claims_gives_nulls(client: httpx.AsyncClient) -> None:
    response = await client.get("/api/me", headers={"Authorization": f"Bearer {mint('carol')}"})
    assert response.json() | {"expires_at": None} == {
        "user_id": "carol",
        "email": None,
        "email_verified": None,
        "name": None,
        "expires_at": None,
    }


@pytest.mark.parametrize("credential", ["none", "expired", "garbage"])
async def test_me_rejects_bad_credentials(client: httpx.AsyncClient, credential: str) -> None:
    value = BAD_CREDENTIALS[credential]
    response = await client.get("/api/me", headers={"Authorization": value} if value else {})
    assert response.status_code == 401
    assert "www-authenticate" in response.headers


@pytest.mark.parametrize(
    "scheme", ["Bearer", "bearer", "BEARER", "bEaReR"], ids=["Bearer", "lower", "upper", "mixed"]
)
async def test_bearer_scheme_is_case_insensitive(
    client: httpx.AsyncClient, alice: User, scheme: str
) -> None:
    response = await client.get("/api/me", headers={"Authorization": f"{scheme} {alice.token}"})
    assert response.status_code == 200


async def test_token_in_query_string_authenticates_nothing(
    client: httpx.AsyncClient, alice: User
) -> None:
    for name in ("access_token", "token", "authorization"):
        response = await client.get(f"/api/alice/tasks?{name}={alice.token}")
        assert response.status_code == 401, name


async def test_token_in_cookie_authenticates_nothing(
    client: httpx.AsyncClient, alice: User
) -> None:
    for name in ("access_token", "token", "better-auth.session_token", "Authorization"):
        response = await client.get("/api/alice/tasks", headers={"Cookie": f"{name}={alice.token}"})
        assert response.status_code == 401, name


async def test_two_authorization_headers_are_refused(
    client: httpx.AsyncClient, alice: User
) -> None:
    headers = [("Authorization", f"Bearer {alice.token}"), ("Authorization", "Bearer x")]
    response = await client.get("/api/me", headers=headers)
    assert response.status_code == 401


async def test_bad_token_with_malformed_body_gets_401_not_422(client: httpx.AsyncClient) -> None:
    for headers in ({}, {"Authorization": "Bearer nope"}):
        response = await client.post(
            "/api/alice/tasks",
            content=b"{not json",
            headers={**headers, "Content-Type": "application/json"},
        )
        assert response.status_code == 401


async def test_bad_token_with_oversized_body_gets_401_not_413(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/api/alice/tasks", content=b"x" * 200_000, headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 401


async def test_unknown_api_path_is_still_authenticated_first(client: httpx.AsyncClient) -> None:
    # The gate is the middleware, not the routes: even a path with no route answers 401.
    response = await client.get("/api/not-a-route/at/all")
    assert response.status_code == 401


async def test_a_configured_issuer_and_audience_are_both_required(tmp_path: Path) -> None:
    # Through the whole app (the unit tests check the verifier alone): a token of this issuer
    # for this audience passes; one of another issuer or for another service does not, nor one
    # that names neither.
    issuer, audience = "http://127.0.0.1:3000", "http://127.0.0.1:8000"
    settings = make_settings(tmp_path, AUTH_ISSUER=issuer, AUTH_AUDIENCE=audience)
    tokens = {
        "right": mint("alice", iss=issuer, aud=audience),
        "another issuer": mint("alice", iss="http://127.0.0.1:3001", aud=audience),
        "no issuer": mint("alice", aud=audience),
        "another audience": mint("alice", iss=issuer, aud="http://127.0.0.1:8001"),
        "no audience": mint("alice", iss=issuer),
    }
    async with running_app(settings) as app, asgi_client(app) as client:
        statuses = {
            label: (
                await client.get("/api/alice/tasks", headers={"Authorization": f"Bearer {token}"})
            ).status_code
            for label, token in tokens.items()
        }
    assert statuses == {label: 200 if label == "right" else 401 for label in tokens}
