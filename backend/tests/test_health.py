"""health.py: liveness is public and never touches the database; readiness does."""

from __future__ import annotations

import httpx
import pytest

pytestmark = pytest.mark.anyio


async def test_healthz_is_public(client: httpx.AsyncClient) -> None:
    response = await client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


async def test_readyz_is_200_when_the_database_answers(client: httpx.AsyncClient) -> None:
    response = await client.get("/readyz")
    assert (response.status_code, response.json()) == (200, {"status": "ready"})
