"""Projects, their lists and the lists' items: three levels below one collection, each owned
through its parent (`/projects/{project_id}/lists/{list_id}/items/{item_id}`), the project by
the token's user. Nothing in a path names an owner; the spec is FastAPI's. An item's `sku` has a
pattern, which FastAPI checks before any route code runs (before the owner check). A project and
a list carry a `revision` that each write bumps; an item carries none: a write to an item bumps
its list's (the list is the aggregate), so only its parent shows that an item was rewritten with
the same values. Correct unless built with one of `FLAWS`."""

import itertools
import time
from typing import Annotated, Any

import jwt
from fastapi import Depends, FastAPI, HTTPException, status
from fastapi.security import OAuth2PasswordBearer
from pydantic import BaseModel, ConfigDict, Field

SECRET_KEY = "projects-fixture-secret-0123456789abcdef0123456789"

ITEM_SKIPS_OWNER = "an item is found through its list and project, not its project's owner"
LIST_SKIPS_OWNER = "a list is found through its project, not its project's owner"
ITEM_WRITE_SKIPS_OWNER = "an item's PUT and PATCH find it without its project's owner"
FLAWS = (ITEM_SKIPS_OWNER, LIST_SKIPS_OWNER, ITEM_WRITE_SKIPS_OWNER)

SKU = r"^[A-Z]{3}-[0-9]"  # a shape the owner's own bodies keep, a changed string breaks


def _links(**targets: dict[str, str]) -> dict[int | str, dict[str, Any]]:
    """The 201's OpenAPI links: each target operation with its path parameters' sources."""
    links = {op: {"operationId": op, "parameters": p} for op, p in targets.items()}
    return {201: {"description": "Created", "links": links}}


# A create leads to its object and to the creates below it, so stateful runs reach the items.
_PROJECT = {"project_id": "$response.body#/id"}
LINKS_PROJECT = _links(readProject=_PROJECT, createList=_PROJECT)
_LIST = {"project_id": "$request.path.project_id", "list_id": "$response.body#/id"}
LINKS_LIST = _links(readList=_LIST, createItem=_LIST)
_ITEM = {
    "project_id": "$request.path.project_id",
    "list_id": "$request.path.list_id",
    "item_id": "$response.body#/id",
}
LINKS_ITEM = _links(readItem=_ITEM, replaceItem=_ITEM, updateItem=_ITEM, listProjects={})


def mint(sub: str, ttl: int = 600) -> str:
    now = int(time.time())
    return jwt.encode({"sub": sub, "iat": now, "exp": now + ttl}, SECRET_KEY, algorithm="HS256")


class ProjectIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    title: str = Field(min_length=1, max_length=30)


class Project(ProjectIn):
    id: int
    revision: int


class ListIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=30)


class TaskList(ListIn):
    id: int
    revision: int


class ItemIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    sku: str = Field(pattern=SKU, max_length=12)
    quantity: int = Field(ge=1, le=99)


class ItemPatch(BaseModel):
    model_config = ConfigDict(extra="forbid")
    sku: str | None = Field(default=None, pattern=SKU, max_length=12)
    quantity: int | None = Field(default=None, ge=1, le=99)


class Item(ItemIn):
    id: int


def create_app(flaw: str | None = None) -> FastAPI:
    assert flaw is None or flaw in FLAWS, flaw
    app = FastAPI(title="projects")
    oauth2_scheme = OAuth2PasswordBearer(tokenUrl="token")
    # id -> row; a list's row names its project, an item's its list (ids count across owners).
    projects: dict[int, dict[str, Any]] = {}
    lists: dict[int, dict[str, Any]] = {}
    items: dict[int, dict[str, Any]] = {}
    ids = itertools.count(1)

    def reset() -> None:
        nonlocal ids
        projects.clear()
        lists.clear()
        items.clear()
        ids = itertools.count(1)

    app.state.reset = reset

    async def current_user(token: Annotated[str, Depends(oauth2_scheme)]) -> str:
        unauthorized = HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            "Could not validate credentials",
            {"WWW-Authenticate": "Bearer"},
        )
        try:
            sub = jwt.decode(token, SECRET_KEY, algorithms=["HS256"]).get("sub")
        except jwt.InvalidTokenError:
            raise unauthorized from None
        if not isinstance(sub, str) or not sub:
            raise unauthorized
        return sub

    User = Annotated[str, Depends(current_user)]  # noqa: N806  (a type alias)

    def missing() -> HTTPException:
        return HTTPException(status.HTTP_404_NOT_FOUND, "Not found")

    def project_of(project_id: int, user: str | None) -> dict[str, Any]:
        """The project, if `user` owns it; None as the user skips the owner check."""
        row = projects.get(project_id)
        if row is None or (user is not None and row["owner"] != user):
            raise missing()
        return row

    def list_of(project_id: int, list_id: int, user: str | None) -> dict[str, Any]:
        project_of(project_id, None if flaw == LIST_SKIPS_OWNER else user)
        row = lists.get(list_id)
        if row is None or row["project"] != project_id:
            raise missing()
        return row

    def item_of(
        project_id: int, list_id: int, item_id: int, user: str | None, *, write: bool = False
    ) -> dict[str, Any]:
        skips = flaw == ITEM_SKIPS_OWNER or (write and flaw == ITEM_WRITE_SKIPS_OWNER)
        list_of(project_id, list_id, None if skips else user)
        row = items.get(item_id)
        if row is None or row["list"] != list_id:
            raise missing()
        return row

    def shown(model: type[Any], key: int, row: dict[str, Any]) -> Any:
        return model(id=key, **{k: v for k, v in row.items() if k in model.model_fields})

    @app.get("/projects", operation_id="listProjects")
    async def list_projects(user: User) -> list[Project]:
        return [shown(Project, k, r) for k, r in projects.items() if r["owner"] == user]

    @app.post("/projects", status_code=201, operation_id="createProject", responses=LINKS_PROJECT)
    async def create_project(body: ProjectIn, user: User) -> Project:
        key = next(ids)
        projects[key] = {"owner": user, "revision": 1, **body.model_dump()}
        return shown(Project, key, projects[key])

    @app.get("/projects/{project_id}", operation_id="readProject")
    async def read_project(project_id: int, user: User) -> Project:
        return shown(Project, project_id, project_of(project_id, user))

    @app.put("/projects/{project_id}")
    async def replace_project(project_id: int, body: ProjectIn, user: User) -> Project:
        row = project_of(project_id, user)
        row.update(body.model_dump(), revision=row["revision"] + 1)
        return shown(Project, project_id, row)

    @app.delete("/projects/{project_id}", status_code=204)
    async def delete_project(project_id: int, user: User) -> None:
        project_of(project_id, user)
        del projects[project_id]

    @app.get("/projects/{project_id}/lists")
    async def list_lists(project_id: int, user: User) -> list[TaskList]:
        project_of(project_id, None if flaw == LIST_SKIPS_OWNER else user)
        return [shown(TaskList, k, r) for k, r in lists.items() if r["project"] == project_id]

    @app.post(
        "/projects/{project_id}/lists",
        status_code=201,
        operation_id="createList",
        responses=LINKS_LIST,
    )
    async def create_list(project_id: int, body: ListIn, user: User) -> TaskList:
        project_of(project_id, user)
        key = next(ids)
        lists[key] = {"project": project_id, "revision": 1, **body.model_dump()}
        return shown(TaskList, key, lists[key])

    @app.get("/projects/{project_id}/lists/{list_id}", operation_id="readList")
    async def read_list(project_id: int, list_id: int, user: User) -> TaskList:
        return shown(TaskList, list_id, list_of(project_id, list_id, user))

    @app.put("/projects/{project_id}/lists/{list_id}")
    async def replace_list(project_id: int, list_id: int, body: ListIn, user: User) -> TaskList:
        row = list_of(project_id, list_id, user)
        row.update(body.model_dump(), revision=row["revision"] + 1)
        return shown(TaskList, list_id, row)

    @app.delete("/projects/{project_id}/lists/{list_id}", status_code=204)
    async def delete_list(project_id: int, list_id: int, user: User) -> None:
        list_of(project_id, list_id, user)
        del lists[list_id]

    @app.get("/projects/{project_id}/lists/{list_id}/items")
    async def list_items(project_id: int, list_id: int, user: User) -> list[Item]:
        list_of(project_id, list_id, user)
        return [shown(Item, k, r) for k, r in items.items() if r["list"] == list_id]

    @app.post(
        "/projects/{project_id}/lists/{list_id}/items",
        status_code=201,
        operation_id="createItem",
        responses=LINKS_ITEM,
    )
    async def create_item(project_id: int, list_id: int, body: ItemIn, user: User) -> Item:
        list_of(project_id, list_id, user)["revision"] += 1
        key = next(ids)
        items[key] = {"list": list_id, **body.model_dump()}
        return shown(Item, key, items[key])

    @app.get("/projects/{project_id}/lists/{list_id}/items/{item_id}", operation_id="readItem")
    async def read_item(project_id: int, list_id: int, item_id: int, user: User) -> Item:
        return shown(Item, item_id, item_of(project_id, list_id, item_id, user))

    @app.put("/projects/{project_id}/lists/{list_id}/items/{item_id}", operation_id="replaceItem")
    async def replace_item(
        project_id: int, list_id: int, item_id: int, body: ItemIn, user: User
    ) -> Item:
        row = item_of(project_id, list_id, item_id, user, write=True)
        row.update(body.model_dump())
        lists[list_id]["revision"] += 1
        return shown(Item, item_id, row)

    @app.patch("/projects/{project_id}/lists/{list_id}/items/{item_id}", operation_id="updateItem")
    async def update_item(
        project_id: int, list_id: int, item_id: int, body: ItemPatch, user: User
    ) -> Item:
        row = item_of(project_id, list_id, item_id, user, write=True)
        row.update(body.model_dump(exclude_none=True))
        lists[list_id]["revision"] += 1
        return shown(Item, item_id, row)

    @app.delete("/projects/{project_id}/lists/{list_id}/items/{item_id}", status_code=204)
    async def delete_item(project_id: int, list_id: int, item_id: int, user: User) -> None:
        item_of(project_id, list_id, item_id, user)
        del items[item_id]
        lists[list_id]["revision"] += 1

    return app
