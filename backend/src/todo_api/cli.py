"""`todo-api serve | token | secret | migrate | roles`: run the server, mint dev tokens, manage the
schema."""

from __future__ import annotations

import argparse
import asyncio
import importlib.metadata
import os
import secrets
import shlex
import socket
import sys
import threading
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from todo_api import PROJECT_NAME

# The settings, database, web and Redis layers are imported where a command needs them, not
# here: `--version` and `secret` answer without loading them (research F4).
if TYPE_CHECKING:
    from todo_api.settings import AuthSettings, DatabaseSettings, LimitSettings, Settings


def mint_token(
    settings: AuthSettings,
    sub: str,
    *,
    email: str | None = None,
    name: str | None = None,
    ttl_seconds: int = 3600,
) -> str:
    """A token shaped like Better Auth's, signed with the configured secret (for development)."""
    import jwt

    now = int(time.time())
    claims: dict[str, object] = {"sub": sub, "iat": now, "exp": now + ttl_seconds}
    if email is not None:
        claims["email"] = email
    if name is not None:
        claims["name"] = name
    if settings.auth_issuer:
        claims["iss"] = settings.auth_issuer
    if settings.auth_audience:
        claims["aud"] = settings.auth_audience
    return jwt.encode(claims, settings.secret_bytes(), algorithm=settings.auth_algorithms[0])


def _serve(settings: Settings, host: str, port: int, demo_user: str | None, workers: int) -> int:
    from todo_api.settings import ConfigError

    # Refused here, before anything starts (or is imported): a budget multiplied by the workers
    # without a word.
    try:
        settings.check_processes(workers)
    except ConfigError as exc:
        print(f"todo-api: {exc}", file=sys.stderr)
        return 2
    from todo_api.db import DatabaseNotReady, make_engine
    from todo_api.db.lifecycle import prepare_database
    from todo_api.logs import configure_logging
    from todo_api.main import create_app
    from todo_api.server import make_server
    from todo_api.state import app_state
    from todo_api.workers import Supervisor, shared_metrics

    configure_logging(settings.log_level)
    # Checked here as well as in the lifespan: uvicorn reports a failing lifespan with a stack
    # trace, and an operator needs one line that says what to do. With several workers, the
    # parent does it once (SQLite migrates here), before any worker starts.
    app = create_app(settings, docs_user=demo_user) if workers == 1 else None
    engine = app_state(app).database.engine if app else make_engine(settings.database_url)
    try:
        prepare_database(engine, settings.db_startup_timeout)
    except DatabaseNotReady as exc:
        print(f"todo-api: {exc}", file=sys.stderr)
        return 1
    finally:
        if app is None:
            engine.dispose()
    if settings.rate_limit_store_required:
        try:
            asyncio.run(_require_rate_limit_store(settings))
        except ConfigError as exc:
            print(f"todo-api: {exc}", file=sys.stderr)
            return 2
    # Bound before the app starts: a port in use is one line and exit 1, before any "ready" log
    # line (uvicorn would start the app, log, then fail to bind). Workers share this socket.
    try:
        listener = _listen(host, port)
    except OSError as exc:
        print(
            f"todo-api: cannot listen on {host}:{port}: {exc.strerror or exc} (choose another "
            "with --port, or `make run PORT=...`)",
            file=sys.stderr,
        )
        return 1
    if app is None:
        with shared_metrics(settings, workers):
            supervisor = Supervisor(settings, host, port, listener, workers, docs_user=demo_user)
            if demo_user:
                _demo_curl_when(supervisor.any_ready.is_set, settings, host, port, demo_user)
            return supervisor.run()
    server = make_server(app, settings, host, port)
    if demo_user:
        _demo_curl_when(lambda: server.started, settings, host, port, demo_user)
    server.run(sockets=[listener])
    return 0


async def _require_rate_limit_store(settings: LimitSettings) -> None:
    """The lifespan's check, once before uvicorn, for the same reason as the database's."""
    from todo_api.main import check_rate_limit_store
    from todo_api.ratelimit.limiter import Limiter

    limiter = Limiter(settings.counters())
    try:
        await check_rate_limit_store(limiter, settings)
    finally:
        await limiter.close()


def _listen(host: str, port: int) -> socket.socket:
    """A listening-ready socket bound as uvicorn would bind it (IPv6 when the host says so)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    listener = socket.socket(family, socket.SOCK_STREAM)
    try:
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind((host, port))
    except OSError:
        listener.close()
        raise
    listener.set_inheritable(True)
    return listener


def _migrate(settings: DatabaseSettings) -> int:
    """Apply pending migrations as the owner role (MIGRATION_DATABASE_URL, else DATABASE_URL)."""
    from sqlalchemy.exc import SQLAlchemyError

    from todo_api.db import DatabaseNotReady, describe, make_engine, wait_for_database
    from todo_api.db.lifecycle import upgrade

    engine = make_engine(settings.migration_url())
    try:
        wait_for_database(engine, settings.db_startup_timeout)
        revision = upgrade(engine)
    except DatabaseNotReady as exc:
        print(f"todo-api: {exc}", file=sys.stderr)
        return 1
    except SQLAlchemyError as exc:
        reason = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0]
        print(f"todo-api: migrating {describe(engine)} failed: {reason}", file=sys.stderr)
        return 1
    finally:
        engine.dispose()
    print(f"{describe(engine)} is at schema revision {revision}")
    return 0


def _demo_curl_when(
    started: Callable[[], bool], settings: Settings, host: str, port: int, user: str
) -> None:
    """Print a ready-to-paste curl once, when the server accepts connections."""
    token = mint_token(settings, user, name="Demo User", ttl_seconds=24 * 3600)
    threading.Thread(
        target=_print_demo_curl, args=(started, host, port, user, token), daemon=True
    ).start()


def _print_demo_curl(
    started: Callable[[], bool], host: str, port: int, user: str, token: str
) -> None:
    while not started():
        time.sleep(0.05)
    base = f"http://{host}:{port}"
    header = shlex.quote(f"Authorization: Bearer {token}")
    print(
        f"\nServing on {base}  (docs: {base}/docs)\n"
        f"Try it, as demo user {user!r} (token valid 24 h):\n\n"
        f"  curl -i -H {header} {base}/api/{user}/tasks\n",
        flush=True,
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="todo-api", description=__doc__)
    parser.add_argument(
        "--version",
        action="version",
        version=f"%(prog)s {importlib.metadata.version(PROJECT_NAME)}",
    )
    parser.add_argument(
        "--env-file",
        metavar="FILE",
        help="read settings from FILE (default: ./.env, else the .env of this checkout)",
    )
    commands = parser.add_subparsers(dest="command", required=True)

    serve = commands.add_parser("serve", help="run the API with uvicorn")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000)
    serve.add_argument(
        "--demo-user",
        help="print a ready-to-paste curl for this user once serving; /docs fills in its id",
    )
    serve.add_argument(
        "--workers",
        type=int,
        help="worker processes sharing the port (default: WEB_CONCURRENCY, else 1)",
    )

    token = commands.add_parser("token", help="print a dev token signed with the configured secret")
    token.add_argument("--sub", required=True, help="user id (the token's subject)")
    token.add_argument("--email")
    token.add_argument("--name")
    token.add_argument("--ttl", type=int, default=3600, help="lifetime in seconds (default 3600)")

    commands.add_parser("secret", help="print a new random secret for BETTER_AUTH_SECRET")

    commands.add_parser(
        "migrate", help="apply pending schema migrations (as MIGRATION_DATABASE_URL's role)"
    )
    roles = commands.add_parser(
        "roles", help="print the SQL that creates the PostgreSQL owner and application roles"
    )
    roles.add_argument("--owner", default="todo_owner", help="role that owns the schema")
    roles.add_argument("--app", default="todo_app", help="role the API connects as")
    roles.add_argument("--database", default="todo", help="the application's database")

    args = parser.parse_args(argv)
    if args.command == "secret":
        print(secrets.token_urlsafe(48))
        return 0
    if args.command == "roles":
        from todo_api.db.lifecycle import roles_sql

        try:
            print(roles_sql(args.owner, args.app, args.database), end="")
        except ValueError as exc:
            print(f"todo-api: {exc}", file=sys.stderr)
            return 2
        return 0
    from todo_api.auth.tokens import USER_ID_CHARACTERS, USER_ID_MAX_LENGTH, USER_ID_PATTERN
    from todo_api.settings import (
        ConfigError,
        DatabaseSettings,
        Settings,
        find_env_file,
        load_settings,
    )

    # `migrate` reads only the database settings: an operator's migration job needs no key source.
    try:
        settings = load_settings(
            DatabaseSettings if args.command == "migrate" else Settings,
            env_file=find_env_file(args.env_file),
        )
    except ConfigError as exc:
        print(f"todo-api: {exc}", file=sys.stderr)
        return 2
    if args.command == "migrate":
        return _migrate(settings)
    assert isinstance(settings, Settings)
    if args.command == "token":
        if not USER_ID_PATTERN.fullmatch(args.sub):
            print(
                f"todo-api: --sub must be 1..{USER_ID_MAX_LENGTH} of [{USER_ID_CHARACTERS}]",
                file=sys.stderr,
            )
            return 2
        print(
            mint_token(settings, args.sub, email=args.email, name=args.name, ttl_seconds=args.ttl)
        )
        return 0
    from todo_api.workers import worker_count

    try:
        workers = worker_count(args.workers, os.environ)
    except ConfigError as exc:
        print(f"todo-api: {exc}", file=sys.stderr)
        return 2
    return _serve(settings, args.host, args.port, args.demo_user, workers)


if __name__ == "__main__":
    raise SystemExit(main())
