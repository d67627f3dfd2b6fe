"""The docs pages ask nothing of the internet: ReDoc's bundle is served without its CDN logo.

The browser test (e2e/test_browser.py) records every request the pages make; this one pins the
cause it found, without a browser.
"""

from __future__ import annotations

import httpx
import pytest

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
