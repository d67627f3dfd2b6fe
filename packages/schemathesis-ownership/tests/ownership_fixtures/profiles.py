"""Profiles whose owner is named in the body (`PUT /profile {"username": …}`) or the query
(`GET /profiles?username=…`), with HS256 JWTs. A profile counts its writes (`writes`), so a
rewrite with the same values shows. Correct unless built with one of `FLAWS`."""

import time
from typing import Any

import jwt
import yaml
from fastapi import FastAPI, HTTPException, Query, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

SECRET = "profiles-fixture-secret-0123456789abcdef012345"
USERNAME = r"^[a-z]{3,12}$"

BODY_NAMES_WHO_IS_WRITTEN = "PUT /profile writes the profile its body names"
QUERY_NAMES_WHO_IS_READ = "GET /profiles answers the profile its query names"
WRITE_BEHIND_VALIDATION = (
    "PUT /profile checks first that a bio starts with a capital (a rule the spec does not state), "
    "then writes the profile its body names"
)
FLAWS = (BODY_NAMES_WHO_IS_WRITTEN, QUERY_NAMES_WHO_IS_READ, WRITE_BEHIND_VALIDATION)

SPEC: dict[str, Any] = yaml.safe_load(
    """
openapi: 3.1.0
info: {title: profiles, version: "1.0"}
security: [{bearer: []}]
paths:
  /profile:
    get:
      operationId: getProfile
      x-owner: none
      responses:
        "200":
          description: mine
          content: {application/json: {schema: {$ref: "#/components/schemas/Profile"}}}
          links:
            FindProfile:
              operationId: findProfile
              parameters: {username: $response.body#/username}
        "401": {description: no valid token}
    put:
      operationId: putProfile
      x-owner: {in: body, pointer: /username}
      requestBody:
        required: true
        content: {application/json: {schema: {$ref: "#/components/schemas/ProfileWrite"}}}
      responses:
        "200":
          description: written
          content: {application/json: {schema: {$ref: "#/components/schemas/Profile"}}}
          links:
            FindProfile:
              operationId: findProfile
              parameters: {username: $response.body#/username}
        "401": {description: no valid token}
        "403": {description: another user's}
        "422": {description: invalid}
  /profiles:
    get:
      operationId: findProfile
      parameters:
        - name: username
          in: query
          required: true
          x-owner: true
          schema: {type: string, pattern: '^[a-z]{3,12}$'}
      responses:
        "200":
          description: found
          content: {application/json: {schema: {$ref: "#/components/schemas/Profile"}}}
        "401": {description: no valid token}
        "403": {description: another user's}
        "422": {description: invalid}
components:
  securitySchemes:
    bearer: {type: http, scheme: bearer, bearerFormat: JWT}
  schemas:
    ProfileWrite:
      type: object
      additionalProperties: false
      required: [username, bio]
      properties:
        username: {type: string, pattern: '^[a-z]{3,12}$'}
        bio: {type: string, maxLength: 40}
    Profile:
      type: object
      required: [username, bio, email]
      properties: {username: {type: string}, bio: {type: string}, email: {type: string}}
"""
)


def mint(sub: str, ttl: int = 600) -> str:
    now = int(time.time())
    return jwt.encode({"sub": sub, "iat": now, "exp": now + ttl}, SECRET, algorithm="HS256")


class ProfileWrite(BaseModel):
    model_config = ConfigDict(strict=True, extra="forbid")
    username: str = Field(pattern=USERNAME)
    bio: str = Field(max_length=40)


def create_app(flaw: str | None = None) -> FastAPI:
    assert flaw is None or flaw in FLAWS, flaw
    profiles: dict[str, dict[str, Any]] = {}
    app = FastAPI(title="profiles")
    app.openapi = lambda: SPEC  # type: ignore[method-assign]
    app.state.reset = profiles.clear

    @app.middleware("http")
    async def authenticate(request: Request, call_next: Any) -> Any:
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        try:
            if scheme.lower() != "bearer":
                raise jwt.InvalidTokenError("no bearer token")
            claims = jwt.decode(token, SECRET, algorithms=["HS256"], options={"require": ["sub"]})
        except jwt.InvalidTokenError:
            return JSONResponse(
                {"detail": "invalid token"}, 401, headers={"WWW-Authenticate": "Bearer"}
            )
        request.state.user = claims["sub"]
        return await call_next(request)

    def profile(username: str) -> dict[str, Any]:
        default = {"username": username, "bio": "", "email": f"{username}@example.com", "writes": 0}
        return profiles.setdefault(username, default)

    @app.get("/profile")
    def get_profile(request: Request) -> dict[str, Any]:
        return profile(request.state.user)

    @app.put("/profile")
    def put_profile(request: Request, body: ProfileWrite) -> dict[str, Any]:
        if flaw == WRITE_BEHIND_VALIDATION and body.bio[:1].islower():
            raise HTTPException(422, "a bio starts with a capital")
        trusts_body = flaw in (BODY_NAMES_WHO_IS_WRITTEN, WRITE_BEHIND_VALIDATION)
        if body.username != request.state.user and not trusts_body:
            raise HTTPException(403, "not your profile")
        written = profile(body.username)
        written["bio"] = body.bio
        written["writes"] += 1
        return written

    @app.get("/profiles")
    def find_profile(request: Request, username: str = Query(pattern=USERNAME)) -> dict[str, Any]:
        if username != request.state.user and flaw != QUERY_NAMES_WHO_IS_READ:
            raise HTTPException(403, "not your profile")
        return profile(username)

    return app
