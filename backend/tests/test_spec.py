"""spec.py: the served document, and docs pages that ask nothing of the internet: ReDoc's bundle
is served without its CDN logo.

The browser test (e2e/test_browser.py) records every request the pages make; this one pins the
cause it found, without a browser.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest

from fixtures.api import User, asgi_client, running_app
from fixtures.live_server import running_server
from todo_api.settings import Settings
from todo_api.spec import load_spec, spec_text, with_example_user

pytestmark = pytest.mark.anyio


async def test_redoc_page_loads_the_bundle_served_here(client: httpx.AsyncClient) -> None:
    page = await client.get("/redoc")
    assert page.status_code == 200
    assert '<script src="/redoc/redoc.standalone.js">' in page.text
    assert "https://" not in page.text


async def test_redoc_bundle_asks_no_cdn_for_its_logo(client: httpx.AsyncClient) -> None:
    bundle = await client.get("/redoc/redoc.standalone.js")
    assert bundle.status_code == 200
    assert bundle.headers["content-type"].startswith("text/javascript")
    assert len(bundle.content) > 500_000  # the whole ReDoc, not a stub
    assert b"cdn.redoc.ly" not in bundle.content
    assert b'alt:"redocly logo",onError:()=>t(!1),src:"data:,"' in bundle.content


# Swagger UI's "Try it out" fills `user_id` with the parameter's example: with `serve
# --demo-user` that is the demo user, so their first Execute is a 200, not a stranger's 403.


def owner_example(document: dict[str, Any]) -> str:
    example: str = document["components"]["parameters"]["UserId"]["example"]
    return example


async def test_served_document_names_the_demo_user_in_the_owner_example(
    settings: Settings, alice: User
) -> None:
    async with running_app(settings, docs_user="alice") as app, asgi_client(app) as client:
        served = (await client.get("/openapi.json")).json()
        assert owner_example(served) == "alice"
        # Everything else is the contract as written, and so is /openapi.yaml.
        assert with_example_user(load_spec(), "alice") == served
        assert (await client.get("/openapi.yaml")).text == spec_text()
        path = f"/api/{owner_example(served)}/tasks"
        assert (await client.get(path, headers=alice.headers)).status_code == 200


async def test_without_a_demo_user_the_document_is_the_contract(client: httpx.AsyncClient) -> None:
    served = (await client.get("/openapi.json")).json()
    assert served == load_spec()


@pytest.mark.server
def test_serve_demo_user_fills_the_docs_example(tmp_path: Path) -> None:
    with running_server(tmp_path) as server:  # `todo-api serve --demo-user demo-user`
        served = httpx.get(f"{server.base}/openapi.json", timeout=10).json()
    assert owner_example(served) == "demo-user"
