"""Notes of users named by their e-mail in the path (`/users/{email}/notes`, percent-encoded
`@`), with opaque session tokens (not JWTs) given as a fixed set of users, UUID ids, offset/limit
pages, no `WWW-Authenticate` on its 401s, and errors that carry a timestamp and a request id.
Correct unless built with one of `FLAWS`; `IGNORES_PATH_OWNER` is correct too: it serves the
token's user whatever the path says."""

import secrets
import uuid
from datetime import UTC, datetime
from typing import Annotated, Any

import yaml
from fastapi import Depends, FastAPI, HTTPException, Path, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field
from starlette.exceptions import HTTPException as StarletteHTTPException

EMAIL = r"^[a-z]{1,12}@example\.com$"
USERS = ("alice@example.com", "mallory@example.com", "eve@example.com")

IGNORES_PATH_OWNER = "the path's user is ignored: the token's user is served (correct)"
LIST_WITHOUT_OWNER_FILTER = "every user's notes are listed"
NOTE_BY_ID_ALONE = "a note is read by its id alone"
WRITE_BY_ID_ALONE = "a note is replaced by its id alone"
FOREIGN_NOTE_SAYS_SO = "another user's note is a 404 that says whose it is"
FLAWS = (LIST_WITHOUT_OWNER_FILTER, NOTE_BY_ID_ALONE, WRITE_BY_ID_ALONE, FOREIGN_NOTE_SAYS_SO)
CORRECT = (None, IGNORES_PATH_OWNER)

SPEC: dict[str, Any] = yaml.safe_load(
    """
openapi: 3.1.0
info: {title: notes, version: "1.0"}
security: [{session: []}]
paths:
  /users/{email}/notes:
    parameters: [{$ref: "#/components/parameters/Email"}]
    get:
      operationId: listNotes
      x-lists: {resource: Note, items: /items, offset-parameter: offset}
      parameters:
        - {name: offset, in: query, schema: {type: integer, minimum: 0, maximum: 1000}}
        - {name: limit, in: query, schema: {type: integer, minimum: 1, maximum: 50}}
      responses:
        "200":
          description: a page of notes
          content:
            application/json:
              schema:
                type: object
                required: [items]
                properties: {items: {type: array, items: {$ref: "#/components/schemas/Note"}}}
        "401": {description: no valid session}
        "403": {description: another user}
    post:
      operationId: createNote
      requestBody:
        required: true
        content: {application/json: {schema: {$ref: "#/components/schemas/NoteWrite"}}}
      responses:
        "201":
          description: created
          content: {application/json: {schema: {$ref: "#/components/schemas/Note"}}}
          links:
            GetNote:
              operationId: getNote
              parameters: {email: $request.path.email, note_id: $response.body#/id}
            PutNote:
              operationId: putNote
              parameters: {email: $request.path.email, note_id: $response.body#/id}
        "401": {description: no valid session}
        "403": {description: another user}
        "422": {description: invalid}
  /users/{email}/notes/{note_id}:
    parameters:
      - {$ref: "#/components/parameters/Email"}
      - name: note_id
        in: path
        required: true
        x-resource-id: Note
        schema: {type: string, format: uuid}
    get:
      operationId: getNote
      responses:
        "200":
          description: the note
          content: {application/json: {schema: {$ref: "#/components/schemas/Note"}}}
        "401": {description: no valid session}
        "403": {description: another user}
        "404": {description: no such note}
    put:
      operationId: putNote
      requestBody:
        required: true
        content: {application/json: {schema: {$ref: "#/components/schemas/NoteWrite"}}}
      responses:
        "200":
          description: replaced
          content: {application/json: {schema: {$ref: "#/components/schemas/Note"}}}
        "401": {description: no valid session}
        "403": {description: another user}
        "404": {description: no such note}
        "422": {description: invalid}
components:
  securitySchemes:
    session: {type: http, scheme: bearer, description: an opaque session token}
  parameters:
    Email:
      name: email
      in: path
      required: true
      x-owner: true
      schema: {type: string, pattern: '^[a-z]{1,12}@example\\.com$'}
  schemas:
    NoteWrite:
      type: object
      additionalProperties: false
      required: [text]
      properties: {text: {type: string, minLength: 1, maxLength: 40}}
    Note:
      type: object
      required: [id, text, revision]
      properties:
        id: {type: string, format: uuid}
        text: {type: string}
        revision: {type: integer}
"""
)


class NoteWrite(BaseModel):
    model_config = ConfigDict(strict=True, extra="forbid")
    text: str = Field(min_length=1, max_length=40)


def sessions() -> dict[str, str]:
    """A fresh opaque session token per user (what a login would hand out)."""
    return {user: f"sess_{secrets.token_urlsafe(18)}" for user in USERS}


def _error(status: int, message: str) -> JSONResponse:
    # A timestamp and a request id: two answers to one request never have the same bytes.
    now = datetime.now(UTC).isoformat()
    body = {"error": message, "timestamp": now, "request_id": str(uuid.uuid4())}
    return JSONResponse(body, status_code=status)


def create_app(tokens: dict[str, str], flaw: str | None = None) -> FastAPI:
    assert flaw in (*FLAWS, *CORRECT), flaw
    users = {token: user for user, token in tokens.items()}
    notes: dict[str, dict[str, Any]] = {}  # id -> {owner, id, text, revision}
    app = FastAPI(title="notes")
    app.openapi = lambda: SPEC  # type: ignore[method-assign]
    app.state.reset = notes.clear

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        return _error(exc.status_code, str(exc.detail))

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        return _error(422, "invalid request")

    def session_user(request: Request) -> str:
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        user = users.get(token) if scheme.lower() == "bearer" else None
        if user is None:
            raise HTTPException(401, "no valid session")  # and no challenge, as most APIs
        return user

    def owner(user: Annotated[str, Depends(session_user)], email: str = Path(pattern=EMAIL)) -> str:
        if flaw == IGNORES_PATH_OWNER:
            return user
        if email != user:
            raise HTTPException(403, "forbidden")
        return user

    Owner = Annotated[str, Depends(owner)]  # noqa: N806  (a type alias, as FastAPI writes them)

    def find(note_id: uuid.UUID, user: str, *, by_id_alone: bool = False) -> dict[str, Any]:
        note = notes.get(str(note_id))
        if note is not None and note["owner"] != user and flaw == FOREIGN_NOTE_SAYS_SO:
            raise HTTPException(404, "this note belongs to another user")
        if note is None or (note["owner"] != user and not by_id_alone):
            raise HTTPException(404, "no such note")
        return note

    def public(note: dict[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in note.items() if k != "owner"}

    @app.get("/users/{email}/notes")
    def list_notes(
        user: Owner,
        offset: Annotated[int, Query(ge=0, le=1000)] = 0,
        limit: Annotated[int, Query(ge=1, le=50)] = 2,
    ) -> dict[str, Any]:
        rows = [
            n for n in notes.values() if flaw == LIST_WITHOUT_OWNER_FILTER or n["owner"] == user
        ]
        return {"items": [public(n) for n in rows[offset : offset + limit]]}

    @app.post("/users/{email}/notes", status_code=201)
    def create_note(user: Owner, body: NoteWrite) -> dict[str, Any]:
        note = {"owner": user, "id": str(uuid.uuid4()), "text": body.text, "revision": 1}
        notes[note["id"]] = note
        return public(note)

    @app.get("/users/{email}/notes/{note_id}")
    def get_note(user: Owner, note_id: uuid.UUID) -> dict[str, Any]:
        return public(find(note_id, user, by_id_alone=flaw == NOTE_BY_ID_ALONE))

    @app.put("/users/{email}/notes/{note_id}")
    def put_note(user: Owner, note_id: uuid.UUID, body: NoteWrite) -> dict[str, Any]:
        note = find(note_id, user, by_id_alone=flaw == WRITE_BY_ID_ALONE)
        note.update(text=body.text, revision=note["revision"] + 1)
        return public(note)

    return app
