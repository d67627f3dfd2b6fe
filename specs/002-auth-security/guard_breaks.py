"""Break each security guard once, run the tests meant to catch it, list the ones that fail.

The table under Phase 26 (T242) in tasks.md is this script's output. It is not part of
`make test` (a run is every break times its test modules: most of an hour on two cores); run it
by hand from the repository root, for all breaks or some by name:

    .venv/bin/python specs/002-auth-security/guard_breaks.py [--list] [NAME ...]

Each break is one textual edit of one source file, applied in place and always put back (the
file's bytes are restored in a `finally`, and the file must be unmodified in git before). An edit
whose text is not found exactly once is reported, not skipped: the code moved, the table is stale.
Tests run on SQLite only unless the break needs PostgreSQL (TEST_DATABASE_URL is then passed on);
Schemathesis runs its in-process suite at ST_MAX_EXAMPLES=3, stateful runs left out.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SRC = "backend/src/todo_api/"
TESTS = "backend/tests/"
BITES = "contract_tests/test_suite_bites.py"
FUZZ = "contract_tests/test_schemathesis.py"
TOKENS = [
    f"{TESTS}auth/test_tokens.py",
    f"{TESTS}auth/test_keys.py",
    f"{TESTS}auth/test_token_cache.py",
    f"{TESTS}security/test_auth_matrix.py",
    f"{TESTS}security/test_jwks_issuer.py",
    BITES,
    FUZZ,
]
TASKS = [
    f"{TESTS}security/test_auth_matrix.py",
    f"{TESTS}security/test_isolation.py",
    f"{TESTS}tasks/test_routes.py",
    BITES,
    FUZZ,
]


@dataclass(frozen=True)
class Break:
    name: str
    guard: str
    file: str  # under backend/src/todo_api/
    old: str
    new: str
    tests: tuple[str, ...]
    postgresql: bool = False


BREAKS = [
    Break(
        "exp",
        "`exp` required",
        "auth/tokens.py",
        '"require": ["exp", "sub"],',
        '"require": ["sub"],',
        tuple(TOKENS),
    ),
    Break(
        "sub",
        "`sub` required",
        "auth/tokens.py",
        '"require": ["exp", "sub"],',
        '"require": ["exp"],',
        tuple(TOKENS),
    ),
    Break(
        "alg-none",
        "`alg: none` refused",
        "auth/tokens.py",
        '        alg = header.get("alg")\n',
        '        alg = header.get("alg")\n        if alg == "none": return _claims_from('
        'jwt.decode(token, options={"verify_signature": False}))\n',
        tuple(TOKENS),
    ),
    Break(
        "signature",
        "signature verified",
        "auth/tokens.py",
        "        except jwt.InvalidSignatureError:\n            raise AuthError(",
        "        except jwt.InvalidSignatureError:\n            return jwt.decode(token, "
        'options={"verify_signature": False})\n            raise AuthError(',
        tuple(TOKENS),
    ),
    Break(
        "issuer",
        "issuer checked when configured",
        "auth/tokens.py",
        '"verify_iss": config.issuer is not None,',
        '"verify_iss": False,',
        tuple(TOKENS),
    ),
    Break(
        "audience",
        "audience checked when configured",
        "auth/tokens.py",
        "                audience=config.audience,\n",
        "                audience=config.audience,\n"
        '                options={"verify_aud": config.audience is None},\n',
        tuple(TOKENS),
    ),
    Break(
        "audience-unconfigured",
        "a token with `aud` refused when no audience is configured",
        "auth/tokens.py",
        '"verify_aud": True,',
        '"verify_aud": config.audience is not None,',
        tuple(TOKENS),
    ),
    Break(
        "key-alg",
        "a JWKS key's own `alg` must match the token's",
        "auth/tokens.py",
        'if jwk.get("alg", alg) != alg:',
        "if False:",
        tuple(TOKENS),
    ),
    Break(
        "token-cache-rotation",
        "the token cache dropped when the key set changes",
        "auth/token_cache.py",
        "if now < deadline and seen_with is generation:",
        "if now < deadline:",
        tuple(TOKENS),
    ),
    Break(
        "path-owner",
        "path owner = the token's `sub` (403)",
        "auth/identity.py",
        "    if user_id != identity.user_id:\n",
        "    if False:\n",
        tuple(TASKS),
    ),
    Break(
        "path-trusted",
        "the path's user acted for is the token's (not the path's)",
        "auth/identity.py",
        '        raise Forbidden("You can only access your own tasks")\n',
        "        return Identity(user_id, None, None, identity.expires_at, None)\n",
        tuple(TASKS),
    ),
    Break(
        "owner-filter",
        "owner filter on the list",
        "tasks/store.py",
        "    owner = TASKS.c.owner_id == bindparam(_OWNER)\n",
        "    owner = bindparam(_OWNER) != None  # noqa: E711\n",
        tuple(TASKS),
    ),
    Break(
        "owner-by-id",
        "owner filter on by-id statements",
        "tasks/store.py",
        "    return TASKS.c.owner_id == bindparam(_OWNER), TASKS.c.number == bindparam(_ID)\n",
        "    return bindparam(_OWNER) != None, TASKS.c.number == bindparam(_ID)  # noqa: E711\n",
        tuple(TASKS),
    ),
    Break(
        "rls-bind",
        "RLS bind local to the transaction",
        "db/transactions.py",
        'func.set_config("app.user_id", bindparam("user_id"), True)',
        'func.set_config("app.user_id", bindparam("user_id"), False)',
        (f"{TESTS}security/test_row_level_security.py", f"{TESTS}operations/test_pooler.py"),
        postgresql=True,
    ),
    Break(
        "if-match",
        "If-Match inside the write",
        "tasks/store.py",
        "        return TASKS.c.version == bindparam(_VERSION)\n",
        "        return bindparam(_VERSION) != None  # noqa: E711\n",
        (f"{TESTS}tasks/test_safe_writes.py", BITES, FUZZ),
    ),
    Break(
        "idempotency-hash",
        "Idempotency-Key request hash covers the whole create",
        "tasks/service.py",
        "body.model_dump_json(exclude=later)",
        'body.model_dump_json(include={"title"})',
        (f"{TESTS}tasks/test_idempotency.py", BITES, FUZZ),
    ),
    Break(
        "idempotency-lookup",
        "Idempotency-Key answer looked up (replay, not a second task)",
        "tasks/idempotency.py",
        "    return Answer(*rows[0]) if rows else None\n",
        "    return None\n",
        (f"{TESTS}tasks/test_idempotency.py", BITES, FUZZ),
    ),
    Break(
        "budget",
        "the per-user budgets refuse",
        "ratelimit/middleware.py",
        "            if not usage.allowed:\n",
        "            if False:\n",
        (f"{TESTS}ratelimit/test_middleware.py", f"{TESTS}operations/test_workers.py", BITES),
    ),
    Break(
        "writes-budget",
        "every write verb spends the writes budget",
        "ratelimit/middleware.py",
        'WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})',
        'WRITE_METHODS = frozenset({"POST", "PUT"})',
        (f"{TESTS}ratelimit/test_middleware.py", BITES, FUZZ),
    ),
    Break(
        "throttle",
        "the failed-auth throttle refuses",
        "auth/middleware.py",
        "                if refusal is not None:\n",
        "                if False:\n",
        (f"{TESTS}ratelimit/test_auth_failures.py", BITES),
    ),
    Break(
        "forwarded-for",
        "X-Forwarded-For read right to left",
        "ratelimit/client.py",
        "    for hop in reversed(hops):\n",
        "    for hop in hops:\n",
        (f"{TESTS}ratelimit/test_client.py", f"{TESTS}ratelimit/test_auth_failures.py", BITES),
    ),
    Break(
        "head-limit",
        "request-head size limit (431)",
        "server.py",
        "        if size > self.limits.max_header_bytes:\n",
        "        if False:\n",
        (f"{TESTS}security/test_hostile_clients.py", f"{TESTS}test_cli.py"),
    ),
    Break(
        "body-limit",
        "body size limit (413)",
        "middleware/body_limit.py",
        "            if size > self.max_bytes:\n",
        "            if False:\n",
        (
            f"{TESTS}middleware/test_body_limit.py",
            f"{TESTS}security/test_hostile_clients.py",
            f"{TESTS}test_cli.py",
            FUZZ,
        ),
    ),
    Break(
        "jwks-cap",
        "JWKS document size cap",
        "auth/keys.py",
        "                if len(body) > self.max_bytes:\n",
        "                if False:\n",
        (f"{TESTS}auth/test_keys.py", f"{TESTS}security/test_jwks_issuer.py"),
    ),
    Break(
        "cors-wildcard",
        "CORS: no wildcard origin",
        "settings/cors.py",
        'if origin == "*" or not origin.startswith(("http://", "https://")):',
        'if origin != "*" and not origin.startswith(("http://", "https://")):',
        (f"{TESTS}settings/test_cors.py", f"{TESTS}middleware/test_cors.py", f"{TESTS}test_cli.py"),
    ),
    Break(
        "cors-credentials",
        "CORS: no credentials",
        "main.py",
        "        allow_credentials=False,\n",
        "        allow_credentials=True,\n",
        (
            f"{TESTS}middleware/test_cors.py",
            f"{TESTS}security/test_response_headers.py",
            BITES,
            FUZZ,
        ),
    ),
    Break(
        "problem-json",
        "errors are application/problem+json",
        "errors.py",
        'PROBLEM_MEDIA_TYPE = "application/problem+json"',
        'PROBLEM_MEDIA_TYPE = "application/json"',
        (
            f"{TESTS}test_errors.py",
            f"{TESTS}security/test_bad_input.py",
            f"{TESTS}security/test_auth_matrix.py",
            BITES,
            FUZZ,
        ),
    ),
    Break(
        "log-token",
        "no token in the access line",
        "middleware/request_id.py",
        '                getattr(identity, "user_id", None),\n',
        '                dict(scope["headers"]).get(b"authorization", b"").decode(),\n',
        (
            f"{TESTS}test_logs.py",
            f"{TESTS}middleware/test_request_id.py",
            f"{TESTS}test_cli.py",
            f"{TESTS}operations/test_workers.py",
        ),
    ),
    Break(
        "body-before-auth",
        "authentication before the body is read",
        "main.py",
        "    app.add_middleware(BodyLimitMiddleware, max_bytes=settings.max_body_bytes)\n",
        "",
        (f"{TESTS}security/test_auth_matrix.py", f"{TESTS}security/test_hostile_clients.py", BITES),
    ),
    Break(
        "telemetry",
        "no request input to OpenTelemetry providers the process holds",
        "main.py",
        "        telemetry=TELEMETRY_OFF,\n",
        "",
        (f"{TESTS}test_main.py",),
    ),
]
# body-before-auth: the limit moved outside authentication (re-added after CORS).
_BODY_OUTSIDE_AUTH = (
    "    app.add_middleware(CancelledRequestMiddleware)\n",
    "    app.add_middleware(BodyLimitMiddleware, max_bytes=settings.max_body_bytes)\n"
    "    app.add_middleware(CancelledRequestMiddleware)\n",
)
# `-rfE` lines: "FAILED <node id> - <message>"; node ids may hold spaces (parameter ids).
_FAILED = re.compile(r"^(?:FAILED|ERROR) (.+?)(?: - .*)?$", re.MULTILINE)


def _edit(text: str, old: str, new: str, name: str) -> str:
    if text.count(old) != 1:
        raise SystemExit(f"{name}: the text to break is not found exactly once (the code moved)")
    return text.replace(old, new)


def run(broken: Break) -> list[str]:
    path = ROOT / "backend/src/todo_api" / broken.file
    git = ["git", "diff", "--quiet", "--", str(path)]
    if subprocess.run(git, cwd=ROOT).returncode:  # noqa: S603
        raise SystemExit(f"{broken.file} has changes of its own: commit or stash them first")
    original = path.read_bytes()
    text = _edit(original.decode(), broken.old, broken.new, broken.name)
    if broken.name == "body-before-auth":
        text = _edit(text, *_BODY_OUTSIDE_AUTH, broken.name)
    env = dict(os.environ, ST_MAX_EXAMPLES="3")
    if not broken.postgresql:
        env.pop("TEST_DATABASE_URL", None)
    try:
        path.write_text(text)
        result = subprocess.run(  # noqa: S603
            [
                sys.executable,
                "-m",
                "pytest",
                *broken.tests,
                "-q",
                "-rfE",
                "-p",
                "no:randomly",
                "-p",
                "no:cacheprovider",
                "-k",
                "not Stateful",
            ],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
        )
    finally:
        path.write_bytes(original)
    if result.returncode not in (0, 1):  # interrupted, a collection error: the list means nothing
        return [f"the run broke ({result.returncode}): {result.stdout[-300:]!r}"]
    return sorted(set(_FAILED.findall(result.stdout)))


def main(names: list[str]) -> None:
    if names == ["--list"]:
        print("\n".join(b.name for b in BREAKS))
        return
    # A kill ends the run through the `finally` that puts the broken file back.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))
    chosen = [b for b in BREAKS if not names or b.name in names]
    for broken in chosen:
        failed = run(broken)
        print(f"| {broken.guard} | `{broken.file}` | {len(failed)} | {', '.join(failed)} |")
        sys.stdout.flush()


if __name__ == "__main__":
    main(sys.argv[1:])
