"""bench/floor.py, the benchmark's framework-free floor, does the mix's work as the product does:
the same bodies for the same rows, its writes read back alike by the product, and the owner rule.
A floor that drifted from the product (a field less, a filter gone) would flatter the product's
ratio against it in `make bench`."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from types import ModuleType
from typing import Any

import httpx
import pytest

import floor as floor_script
from common import SECRET, mint
from fixtures.api import User
from todo_api.main import create_app
from todo_api.settings import Settings

pytestmark = pytest.mark.anyio


@pytest.fixture
def alice() -> User:
    return User("alice", mint("alice", email="alice@example.com", name="Alice"))


@pytest.fixture
def bob() -> User:
    return User("bob-42_x.y~z", mint("bob-42_x.y~z"))


@asynccontextmanager
async def running_product(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    """The product with its lifespan run (it makes the schema the floor then serves)."""
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://product") as client:
            yield client


async def create_task(client: httpx.AsyncClient, user: User, title: str = "mine") -> Any:
    response = await client.post(
        f"/api/{user.id}/tasks", json={"title": title}, headers=user.headers
    )
    assert response.status_code == 201, response.text
    return response.json()


@pytest.fixture(scope="module")
def floor_module() -> ModuleType:
    return floor_script


@pytest.fixture
def database(settings: Settings) -> Path:
    return Path(settings.database_url.removeprefix("sqlite:///"))


@pytest.fixture
def floor(floor_module: ModuleType, database: Path) -> Iterator[Any]:
    app = floor_module.Floor(str(database), SECRET)
    yield app
    app.writer.shutdown(wait=True)


def _started(floor_module: ModuleType, floor: Any, database: Path) -> None:
    # What the floor's lifespan does, once the product has made the schema.
    floor.reader = floor_module._connect(str(database))
    floor.writer_connection = floor_module._connect(str(database))


async def test_the_floor_answers_the_mix_with_the_products_bodies(
    settings: Settings, floor_module: ModuleType, floor: Any, database: Path, alice: User
) -> None:
    async with running_product(settings) as product:
        tasks = [await create_task(product, alice, f"task {i}") for i in range(22)]
        _started(floor_module, floor, database)
        transport = httpx.ASGITransport(app=floor)
        async with httpx.AsyncClient(transport=transport, base_url="http://floor") as bare:
            base = f"/api/{alice.id}/tasks"
            one = f"{base}/{tasks[3]['id']}"
            for path in (base, one):  # the mix's reads: a page (with a cursor), one task
                ours = await product.get(path, headers=alice.headers)
                theirs = await bare.get(path, headers=alice.headers)
                # Bytes, not parsed JSON: 1 == True in Python, but not in the contract.
                assert (theirs.status_code, theirs.content) == (200, ours.content)
            # The mix's writes, read back through the product.
            writes = [
                ("POST", base, {"title": "bench task"}, 201),
                ("PATCH", f"{one}/complete", None, 200),
                ("PATCH", one, {"title": "renamed by bench"}, 200),
            ]
            for method, path, body, status in writes:
                written = await bare.request(method, path, json=body, headers=alice.headers)
                assert written.status_code == status
                task = written.json()
                read = await product.get(f"{base}/{task['id']}", headers=alice.headers)
                assert read.content == written.content
            assert task["version"] == 3
            assert task["completed"] is not tasks[3]["completed"]


async def test_the_floor_keeps_the_owner_rule(
    settings: Settings,
    floor_module: ModuleType,
    floor: Any,
    database: Path,
    alice: User,
    bob: User,
) -> None:
    async with running_product(settings) as product:
        task = await create_task(product, alice)
        _started(floor_module, floor, database)
        transport = httpx.ASGITransport(app=floor)
        async with httpx.AsyncClient(transport=transport, base_url="http://floor") as bare:
            other_path = await bare.get(f"/api/{alice.id}/tasks", headers=bob.headers)
            assert other_path.status_code == 403
            for method, suffix in (("GET", ""), ("PATCH", "/complete")):
                path = f"/api/{bob.id}/tasks/{task['id']}{suffix}"
                answer = await bare.request(method, path, headers=bob.headers)
                assert answer.status_code == 404  # alice's task, through bob's own path
            unsigned = await bare.get(f"/api/{alice.id}/tasks")
            assert unsigned.status_code == 401
        read = await product.get(f"/api/{alice.id}/tasks/{task['id']}", headers=alice.headers)
        assert read.json() == task  # bob's toggle wrote nothing
