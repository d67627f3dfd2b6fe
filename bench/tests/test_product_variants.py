"""bench/product_variants.py undoes exactly the decision it names, on the app the product builds:
a variant that undid nothing would make `make bench` report a decision as free."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from common import mint
from product_variants import CPYTHON_GC_THRESHOLDS, GcAtDefaults, without_token_cache
from todo_api.auth.tokens import TokenVerifier
from todo_api.main import GC_THRESHOLDS, create_app
from todo_api.settings import Settings

pytestmark = pytest.mark.anyio


@pytest.fixture
def verifications(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every signature check the product's verifier makes, by token."""
    checked: list[str] = []
    verify = TokenVerifier.verify

    def counted(self: TokenVerifier, token: str) -> Any:
        checked.append(token)
        return verify(self, token)

    monkeypatch.setattr(TokenVerifier, "verify", counted)
    return checked


async def _lists(app: Any, times: int) -> list[int]:
    token = mint("alice")
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://bench") as client:
            headers = {"Authorization": f"Bearer {token}"}
            answers = [await client.get("/api/alice/tasks", headers=headers) for _ in range(times)]
            unsigned = await client.get("/api/alice/tasks")
    return [answer.status_code for answer in [*answers, unsigned]]


async def test_the_product_verifies_a_repeat_token_once(
    settings: Settings, verifications: list[str]
) -> None:
    assert await _lists(create_app(settings), 3) == [200, 200, 200, 401]
    assert len(verifications) == 1


async def test_without_the_token_cache_every_request_checks_the_signature(
    settings: Settings, verifications: list[str]
) -> None:
    assert await _lists(without_token_cache(create_app(settings)), 3) == [200, 200, 200, 401]
    assert len(verifications) == 3


@pytest.fixture
def collector() -> Iterator[None]:
    """The process's collector as it was: these tests retune it."""
    thresholds = gc.get_threshold()
    yield
    gc.set_threshold(*thresholds)


async def test_gc_at_defaults_leaves_the_collector_as_cpython_sets_it(
    settings: Settings, collector: None
) -> None:
    assert CPYTHON_GC_THRESHOLDS != GC_THRESHOLDS  # read before any app started
    tuned = create_app(settings)
    await _lists(tuned, 1)
    assert gc.get_threshold() == GC_THRESHOLDS
    gc.set_threshold(*CPYTHON_GC_THRESHOLDS)  # as a fresh process would be
    untuned = GcAtDefaults(create_app(settings))
    messages: list[dict[str, Any]] = []
    startup = [{"type": "lifespan.startup"}]

    async def receive() -> dict[str, Any]:
        if startup:
            return startup.pop()
        assert gc.get_threshold() == CPYTHON_GC_THRESHOLDS
        assert gc.get_freeze_count() == 0
        return {"type": "lifespan.shutdown"}

    async def send(message: dict[str, Any]) -> None:
        messages.append(message)

    await untuned({"type": "lifespan", "asgi": {"version": "3.0"}}, receive, send)
    assert [m["type"] for m in messages] == [
        "lifespan.startup.complete",
        "lifespan.shutdown.complete",
    ]
