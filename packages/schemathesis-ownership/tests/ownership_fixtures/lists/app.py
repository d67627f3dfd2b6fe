"""The shopping-lists fixture app, in memory, correct unless built with one of `FLAWS`."""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from pathlib import Path as FilePath
from typing import Annotated, Any

import jwt
import yaml
from fastapi import Depends, FastAPI, HTTPException, Path, Query, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.middleware.base import BaseHTTPMiddleware, RequestResponseEndpoint

SPEC = yaml.safe_load((FilePath(__file__).with_name("openapi.yaml")).read_text(encoding="utf-8"))
SECRET = "fixture-app-secret-not-the-tasks-api-one-0123456789"
ACCOUNT = r"^acct_[a-z0-9]{3,20}$"
LIST_ID = r"^lst_[0-9a-f]{12}$"
KEY = r"^[a-z][a-z0-9-]{0,30}$"
PAGE = 2

FETCH_BY_ID_ALONE = "an item is fetched by list id and key alone, not through its owner's list"
LIST_WITHOUT_OWNER_FILTER = "the lists of every account are listed"
UPDATE_WRITES_ANOTHER_OWNERS_ROW = "an existing item is updated without its owner, then read as 404"
EXISTENCE_LEAK_AS_403 = "another account's list is a 403, a missing one a 404"
FLAWS = (
    FETCH_BY_ID_ALONE,
    LIST_WITHOUT_OWNER_FILTER,
    UPDATE_WRITES_ANOTHER_OWNERS_ROW,
    EXISTENCE_LEAK_AS_403,
)


class ListWrite(BaseModel):
    model_config = ConfigDict(strict=True, extra="forbid")
    name: str = Field(max_length=50)


class ItemWrite(BaseModel):
    model_config = ConfigDict(strict=True, extra="forbid")
    text: str = Field(max_length=100)
    done: bool


@dataclass
class Store:
    lists: dict[str, dict[str, Any]] = field(default_factory=dict)  # id -> {owner, name, ...}
    items: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)


def _problem(status: int, title: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse(
        {"title": title, "status": status},
        status_code=status,
        media_type="application/problem+json",
        headers=headers,
    )


class BearerAuth(BaseHTTPMiddleware):
    """Every /api request needs a valid HS256 token; its `sub` is the caller's account."""

    async def dispatch(self, request: Request, call_next: RequestResponseEndpoint) -> Response:
        if request.url.path.startswith("/api"):
            scheme, _, token = request.headers.get("authorization", "").partition(" ")
            try:
                if scheme.lower() != "bearer":
                    raise jwt.InvalidTokenError("no bearer token")
                claims = jwt.decode(
                    token, SECRET, algorithms=["HS256"], options={"require": ["exp", "sub"]}
                )
            except jwt.InvalidTokenError:
                return _problem(401, "Unauthorized", {"WWW-Authenticate": 'Bearer realm="lists"'})
            request.state.account = claims["sub"]
        return await call_next(request)


def owner(request: Request, account: Annotated[str, Path(pattern=ACCOUNT)]) -> str:
    """The path's account, which must be the token's subject."""
    if account != request.state.account:
        raise HTTPException(403, "Forbidden")
    return account


Owner = Annotated[str, Depends(owner)]
ListId = Annotated[str, Path(pattern=LIST_ID)]
Key = Annotated[str, Path(pattern=KEY)]
After = Annotated[str | None, Query(pattern=KEY)]


def create_app(flaw: str | None = None) -> FastAPI:
    assert flaw is None or flaw in FLAWS, flaw
    store = Store()

    def reset() -> None:  # each test scenario starts from no lists
        store.lists.clear()
        store.items.clear()

    app_state_reset = reset
    app = FastAPI(title="lists")
    app.openapi = lambda: SPEC  # type: ignore[method-assign]
    app.add_middleware(BearerAuth)
    app.state.reset = app_state_reset

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        if exc.status_code == 400:  # FastAPI's "error parsing the body": the spec says 422
            return _problem(422, "Unprocessable Content")
        return _problem(exc.status_code, str(exc.detail))

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        return _problem(422, "Unprocessable Content")

    not_found = HTTPException(404, "Not Found")

    def owned_list(account: str, list_id: str) -> dict[str, Any]:
        found = store.lists.get(list_id)
        if found is not None and found["owner"] != account and flaw == EXISTENCE_LEAK_AS_403:
            raise HTTPException(403, "Forbidden")
        if found is None or found["owner"] != account:
            raise not_found
        return found

    def public(row: dict[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in row.items() if k != "owner"}

    @app.get("/api/whoami")
    def who_am_i(request: Request) -> dict[str, str]:
        return {"account": request.state.account}

    @app.get("/api/owners/{account}/lists")
    def list_lists(account: Owner) -> list[dict[str, Any]]:
        rows = list(store.lists.values())
        if flaw != LIST_WITHOUT_OWNER_FILTER:
            rows = [row for row in rows if row["owner"] == account]
        return [public(row) for row in sorted(rows, key=lambda row: row["id"])]

    @app.post("/api/owners/{account}/lists", status_code=201)
    def create_list(account: Owner, body: ListWrite) -> dict[str, Any]:
        list_id = f"lst_{secrets.token_hex(6)}"
        row = {"id": list_id, "owner": account, "name": body.name, "revision": 1}
        store.lists[list_id] = row
        return public(row)

    @app.get("/api/owners/{account}/lists/{list_id}")
    def get_list(account: Owner, list_id: ListId) -> dict[str, Any]:
        return public(owned_list(account, list_id))

    @app.get("/api/owners/{account}/lists/{list_id}/items")
    def list_items(account: Owner, list_id: ListId, after: After = None) -> dict[str, Any]:
        owned_list(account, list_id)
        keys = sorted(
            k for (lst, k) in store.items if lst == list_id and (after is None or k > after)
        )
        page = keys[:PAGE]
        return {
            "data": [store.items[(list_id, k)] for k in page],
            "next": page[-1] if len(keys) > PAGE else None,
        }

    @app.put("/api/owners/{account}/lists/{list_id}/items/{item_key}")
    def put_item(account: Owner, list_id: ListId, item_key: Key, body: ItemWrite) -> dict[str, Any]:
        existing = store.items.get((list_id, item_key))
        if flaw == UPDATE_WRITES_ANOTHER_OWNERS_ROW and existing is not None:
            existing.update(text=body.text, done=body.done, revision=existing["revision"] + 1)
            owned_list(account, list_id)  # the read after the write is the owner-filtered one
            return existing
        owned_list(account, list_id)
        revision = existing["revision"] + 1 if existing else 1
        row = {"key": item_key, "text": body.text, "done": body.done, "revision": revision}
        store.items[(list_id, item_key)] = row
        return row

    @app.get("/api/owners/{account}/lists/{list_id}/items/{item_key}")
    def get_item(account: Owner, list_id: ListId, item_key: Key) -> dict[str, Any]:
        if flaw != FETCH_BY_ID_ALONE:
            owned_list(account, list_id)
        found = store.items.get((list_id, item_key))
        if found is None:
            raise not_found
        return found

    @app.delete("/api/owners/{account}/lists/{list_id}/items/{item_key}", status_code=204)
    def delete_item(account: Owner, list_id: ListId, item_key: Key) -> None:
        owned_list(account, list_id)
        if store.items.pop((list_id, item_key), None) is None:
            raise not_found

    return app
