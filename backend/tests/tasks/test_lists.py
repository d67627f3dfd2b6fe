"""Lists people can use (tasks/listing.py through the API): every sort walked page by page is
exactly the Python-sorted reference, with ties, missing due dates and inserts between pages;
filters and search; due_at and priority on writes."""

from __future__ import annotations

import random
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import insert, text
from sqlalchemy.engine import Engine, make_url

from fixtures import pg_databases
from fixtures.api import User, asgi_client, create_task, running_app, settings_with
from todo_api.db import make_engine, transaction
from todo_api.settings import Settings
from todo_api.tasks import store
from todo_api.tasks.listing import PRIORITY_RANK, SORTS, Sort, like_pattern

pytestmark = pytest.mark.anyio

BASE = datetime(2026, 12, 1, tzinfo=UTC)
RANDOM_TASKS = 13


@pytest.fixture
async def unlimited(settings: Settings) -> AsyncIterator[FastAPI]:
    # Hundreds of page reads per test: the per-user budget is not under test here.
    unlimited = settings_with(settings, RATE_LIMIT="off", RATE_LIMIT_WRITES="off")
    async with running_app(unlimited) as application:
        yield application


@pytest.fixture
async def api(unlimited: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async with asgi_client(unlimited) as http:
        yield http


def _stamp(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat().replace("+00:00", "Z")


def _random_rows(rng: random.Random, owner: str, count: int) -> list[dict[str, Any]]:
    """Rows drawn from few values, so that every sort meets ties (and due_at, nulls)."""
    times = [BASE + timedelta(hours=h) for h in range(3)]
    return [
        {
            "owner_id": owner,
            "title": rng.choice(["b", "B", "a", "ä", "a b", "Z"]),
            "description": rng.choice([None, "x"]),
            "completed": rng.random() < 0.5,
            "due_at": rng.choice([None, None, *times]),
            "priority": rng.choice(["low", "normal", "high"]),
            "created_at": BASE,
            "updated_at": rng.choice(times),
        }
        for _ in range(count)
    ]


def _insert(settings: Settings, rows: list[dict[str, Any]]) -> None:
    # Straight into the table: the API cannot choose updated_at, and ties need equal values.
    engine = make_engine(settings.database_url)
    try:
        with transaction(engine, rows[0]["owner_id"]) as connection:
            connection.execute(insert(store.TASKS), rows)
    finally:
        engine.dispose()


def _reference(tasks: list[dict[str, Any]], sort: str) -> list[int]:
    """The order the contract promises, computed in Python from the tasks as served."""
    field, descending = sort.removeprefix("-"), sort.startswith("-")
    if field == "created_at":
        return sorted((t["id"] for t in tasks), reverse=descending)

    def key(task: dict[str, Any]) -> tuple[Any, int]:
        value = task[field]
        if field == "priority":
            value = PRIORITY_RANK[value]
        elif field in ("due_at", "updated_at"):
            value = datetime.fromisoformat(value)
        return value, task["id"]

    dated = [t for t in tasks if t[field] is not None]
    undated = [t for t in tasks if t[field] is None]  # last in both directions
    ordered = sorted(dated, key=key, reverse=descending)
    ordered += sorted(undated, key=lambda t: t["id"], reverse=descending)
    return [t["id"] for t in ordered]


async def _walk(
    api: httpx.AsyncClient,
    user: User,
    params: dict[str, Any],
    between_pages: Any = None,
) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    cursor: str | None = None
    while True:
        query = params | ({"cursor": cursor} if cursor else {})
        response = await api.get(f"/api/{user.id}/tasks", params=query, headers=user.headers)
        assert response.status_code == 200, response.text
        page = response.json()
        assert len(page["items"]) <= params["limit"]
        items += page["items"]
        cursor = page["next_cursor"]
        if cursor is None:
            return items
        if between_pages is not None:
            await between_pages()


@pytest.mark.parametrize("seed", [1, 2])
async def test_every_sort_pages_exactly_as_the_reference_at_every_page_size(
    api: httpx.AsyncClient, settings: Settings, alice: User, bob: User, seed: int
) -> None:
    rng = random.Random(seed)  # noqa: S311 (reproducible test data)
    _insert(settings, _random_rows(rng, alice.id, RANDOM_TASKS))
    _insert(settings, _random_rows(rng, bob.id, 5))  # never in alice's pages
    everything = await _walk(api, alice, {"limit": 100})
    assert len(everything) == RANDOM_TASKS
    for sort in SORTS:
        expected = _reference(everything, sort)
        for limit in range(1, RANDOM_TASKS + 1):
            walked = await _walk(api, alice, {"sort": sort, "limit": limit})
            assert [t["id"] for t in walked] == expected, (sort, limit)


@pytest.mark.parametrize("sort", SORTS)
async def test_inserts_between_pages_neither_repeat_nor_skip_a_task(
    api: httpx.AsyncClient, settings: Settings, alice: User, sort: str
) -> None:
    rng = random.Random(sort)  # noqa: S311 (reproducible test data)
    _insert(settings, _random_rows(rng, alice.id, RANDOM_TASKS))
    before = await _walk(api, alice, {"limit": 100})
    expected = _reference(before, sort)

    async def insert_two() -> None:
        _insert(settings, _random_rows(rng, alice.id, 2))

    walked = [t["id"] for t in await _walk(api, alice, {"sort": sort, "limit": 3}, insert_two)]
    assert len(walked) == len(set(walked))
    assert [i for i in walked if i in set(expected)] == expected


async def test_filters_and_search_combine_with_status_and_every_sort(
    api: httpx.AsyncClient, settings: Settings, alice: User, bob: User
) -> None:
    rng = random.Random(3)  # noqa: S311 (reproducible test data)
    _insert(settings, _random_rows(rng, alice.id, RANDOM_TASKS))
    _insert(settings, [row | {"title": "a b"} for row in _random_rows(rng, bob.id, 3)])
    everything = await _walk(api, alice, {"limit": 100})
    after, before = BASE + timedelta(hours=1), BASE + timedelta(hours=2)
    filters: dict[str, Any] = {
        "status": "pending",
        "priority": "high",
        "due_after": _stamp(after),
        "due_before": _stamp(before),
        "q": "A B",
    }
    for name, value in filters.items():
        for sort in ("-due_at", "title", "-priority"):
            kept = [t for t in everything if _matches(t, name, value)]
            walked = await _walk(api, alice, {name: value, "sort": sort, "limit": 2})
            assert [t["id"] for t in walked] == _reference(kept, sort), (name, sort)
    kept = [t for t in everything if all(_matches(t, n, v) for n, v in filters.items())]
    walked = await _walk(api, alice, {**filters, "limit": 1})
    assert [t["id"] for t in walked] == _reference(kept, "-created_at")


def _matches(task: dict[str, Any], name: str, value: str) -> bool:
    due = None if task["due_at"] is None else datetime.fromisoformat(task["due_at"])
    if name == "status":
        return task["completed"] is (value == "completed")
    if name == "priority":
        return bool(task["priority"] == value)
    if name == "due_after":
        return due is not None and due >= datetime.fromisoformat(value)
    if name == "due_before":
        return due is not None and due < datetime.fromisoformat(value)
    texts = (task["title"], task["description"] or "")
    return any(value.lower() in text.lower() for text in texts)


@pytest.mark.parametrize("q", ["%", "_", "\\", "a%", "50%_off"])
async def test_search_wildcards_stand_for_themselves(
    api: httpx.AsyncClient, alice: User, q: str
) -> None:
    titles = ["100% done", "a_b", "back\\slash", "plain", "50%_off sale", "ab"]
    for title in titles:
        await create_task(api, alice, title)
    await create_task(api, alice, "other", description="has A% inside")
    found = await _walk(api, alice, {"q": q, "limit": 100})
    expected = [t for t in titles if q.lower() in t.lower()]
    expected += ["other"] if q.lower() in "has a% inside" else []
    assert sorted(t["title"] for t in found) == sorted(expected)


async def test_a_search_with_more_matches_than_are_read_by_number_pages_as_the_reference(
    api: httpx.AsyncClient, settings: Settings, alice: User
) -> None:
    """Above SEARCH_FOUND_MAX matches, PostgreSQL's search goes back to the LIKE in the sort's
    order (tasks/store.py): the same pages either way, for a pattern too short for a trigram
    (`a`), one whose function says it is frequent (`a b`: the page asked again), one found."""
    rng = random.Random(5)  # noqa: S311 (reproducible test data)
    rows = _random_rows(rng, alice.id, 3 * store.SEARCH_FOUND_MAX)
    for row in rows[: store.SEARCH_FOUND_MAX - 40]:
        row["title"] = "a bc"
    _insert(settings, rows)
    everything = await _walk(api, alice, {"limit": 100})
    for q in ("a", "a b", "a bc"):
        kept = [t for t in everything if _matches(t, "q", q)]
        assert (len(kept) > store.SEARCH_FOUND_MAX) is (q != "a bc"), (q, len(kept))
        for sort in ("-created_at", "title", "due_at"):
            walked = await _walk(api, alice, {"q": q, "sort": sort, "limit": 40})
            assert [t["id"] for t in walked] == _reference(kept, sort), (q, sort)


# Texts and patterns where a trigram index could go wrong: non-ASCII letters (one that lower()
# turns into two code points, one that lower-cases only outside ASCII), LIKE's wildcards and
# escape, patterns shorter than a trigram, trigrams across title and description.
TRICKY_TEXTS = [
    ("Café crème", None),
    ("CAFÉ NOIR", "ÉCLAIR au café"),
    ("İstanbul trip", None),
    ("straße 5", "Strasse"),
    ("日本語のテキスト", None),
    ("100% sure", "50%_off\\sale"),
    ("a_b\\c", None),
    ("ab", "abc"),
]
TRICKY_QUERIES = [
    "café",
    "CAFÉ",
    "é",
    "éc",
    "afé cr",
    "i̇stan",
    "İstanbul",
    "STRASSE",
    "straße",
    "ße 5",
    "本語の",
    "テ",
    "100%",
    "%_o",
    "0%_",
    "_b\\",
    "\\",
    "abc",
    "ab",
    "b",
    "nothing here",
    "au café",
    "crème\n",
]


async def test_a_search_finds_what_the_databases_like_finds_with_any_characters(
    api: httpx.AsyncClient, settings: Settings, alice: User, bob: User
) -> None:
    """The trigrams only narrow (tasks/search.py): for every pattern, long or short, the tasks
    found are those the database's own LIKE matches, case folded as it folds (PostgreSQL every
    letter, SQLite ASCII ones), with wildcards standing for themselves; bob's never."""
    for title, description in TRICKY_TEXTS:
        await create_task(api, alice, title, description=description)
        await create_task(api, bob, title, description=description)
    engine = make_engine(settings.database_url)
    try:
        for q in TRICKY_QUERIES:
            pattern = like_pattern(q)
            with transaction(engine, alice.id) as connection:
                # The LIKE alone, over every one of alice's tasks: the reference.
                reference = connection.execute(
                    text(
                        "SELECT number FROM tasks WHERE owner_id = :owner AND "
                        "(lower(title) LIKE :p ESCAPE '\\' OR lower(description) LIKE :p "
                        "ESCAPE '\\') ORDER BY number DESC"
                    ),
                    {"owner": alice.id, "p": pattern},
                ).scalars()
                expected = list(reference)
            found = await _walk(api, alice, {"q": q, "limit": 3})
            assert [t["id"] for t in found] == expected, q
    finally:
        engine.dispose()
    if engine.dialect.name == "postgresql":  # every letter folded, beyond ASCII
        assert [t["title"] for t in await _walk(api, alice, {"q": "café", "limit": 9})] == [
            "CAFÉ NOIR",
            "Café crème",
        ]


async def test_a_search_reads_its_owners_trigrams_only(
    api: httpx.AsyncClient, settings: Settings, alice: User, bob: User
) -> None:
    """bob holds the pattern's trigrams in many tasks, alice in one: her search finds hers from
    her own postings (the trigram is rare for her), never one of bob's."""
    rows = _random_rows(random.Random(7), bob.id, 3 * store.SEARCH_FOUND_MAX)  # noqa: S311
    _insert(settings, [row | {"title": f"zqx {n}"} for n, row in enumerate(rows)])
    mine = await create_task(api, alice, "zqx mine")
    for sort in ("-created_at", "title"):
        found = await _walk(api, alice, {"q": "ZQX", "sort": sort, "limit": 2})
        assert [t["id"] for t in found] == [mine["id"]]


async def test_search_is_case_insensitive_in_title_and_description(
    api: httpx.AsyncClient, alice: User
) -> None:
    await create_task(api, alice, "Buy MILK")
    await create_task(api, alice, "other", description="milk run")
    await create_task(api, alice, "none")
    found = await _walk(api, alice, {"q": "Milk", "limit": 100})
    assert sorted(t["title"] for t in found) == ["Buy MILK", "other"]


@pytest.mark.parametrize(
    ("params", "name"),
    [
        ({"sort": "title", "cursor": "42"}, "cursor"),
        ({"sort": "-title", "cursor": "pa.1.42"}, "cursor"),
        ({"sort": "title", "cursor": "ta.__8.42"}, "cursor"),
        ({"sort": "due"}, "sort"),
        ({"q": ""}, "q"),
        ({"q": "x" * 101}, "q"),
        ({"priority": "urgent"}, "priority"),
        ({"due_before": "2026-12-01"}, "due_before"),
        ({"due_after": "2026-02-30T00:00:00Z"}, "due_after"),
    ],
    ids=repr,
)
async def test_bad_list_parameters_are_422_naming_them(
    api: httpx.AsyncClient, alice: User, params: dict[str, str], name: str
) -> None:
    response = await api.get(f"/api/{alice.id}/tasks", params=params, headers=alice.headers)
    assert response.status_code == 422, response.text
    assert ["query", name] in [e["loc"] for e in response.json()["errors"]]


async def test_a_cursor_of_the_first_contract_still_continues_the_default_list(
    api: httpx.AsyncClient, alice: User
) -> None:
    ids = [(await create_task(api, alice, f"t{n}"))["id"] for n in range(3)]
    response = await api.get(
        f"/api/{alice.id}/tasks", params={"cursor": str(ids[2])}, headers=alice.headers
    )
    assert [t["id"] for t in response.json()["items"]] == [ids[1], ids[0]]


async def test_due_at_and_priority_are_written_and_put_without_them_keeps_them(
    api: httpx.AsyncClient, alice: User
) -> None:
    task = await create_task(api, alice, "t", due_at="2026-12-24T18:00:00+02:00", priority="high")
    assert (task["due_at"], task["priority"]) == ("2026-12-24T16:00:00Z", "high")
    url = f"/api/{alice.id}/tasks/{task['id']}"
    old_client = {"title": "t2", "description": None, "completed": True}
    replaced = (await api.put(url, json=old_client, headers=alice.headers)).json()
    assert (replaced["due_at"], replaced["priority"], replaced["version"]) == (
        "2026-12-24T16:00:00Z",
        "high",
        2,
    )
    cleared = await api.put(
        url, json=old_client | {"due_at": None, "priority": "low"}, headers=alice.headers
    )
    assert (cleared.json()["due_at"], cleared.json()["priority"]) == (None, "low")
    patched = await api.patch(url, json={"priority": "normal"}, headers=alice.headers)
    assert patched.json()["priority"] == "normal"
    assert patched.headers["etag"] == '"4"'
    plain = await create_task(api, alice, "defaults")
    assert (plain["due_at"], plain["priority"]) == (None, "normal")


# --- Which index serves a page: read from the database's own plan ------------------------------


def _plan(connection: Any, shape: store.ListShape, params: dict[str, Any]) -> str:
    rendered = store.list_statement(shape).rendered(connection.dialect)
    values = rendered.values(params)
    if connection.dialect.name == "sqlite":
        rows = connection.exec_driver_sql("EXPLAIN QUERY PLAN " + rendered.sql, values).all()
        return "\n".join(str(row[-1]) for row in rows)
    # PostgreSQL: with sorting priced out, a plan still sorts only if no index gives the order.
    connection.exec_driver_sql("SET LOCAL enable_sort = off")
    connection.exec_driver_sql("SET LOCAL enable_seqscan = off")
    rows = connection.exec_driver_sql("EXPLAIN " + rendered.sql, values).all()
    return "\n".join(str(row[0]) for row in rows)


def _plans_into(connection: Any, plans: list[str]) -> None:
    """PostgreSQL's notices on this connection go to `plans`: with `_explaining`, the plan of
    every statement, those inside functions included (auto_explain)."""
    raw = connection.connection.driver_connection
    assert raw is not None
    raw.add_notice_handler(lambda notice: plans.append(str(notice.message_primary)))


def _explaining(connection: Any, role: str | None = None) -> None:
    """Until the transaction ends: each statement's plan as a notice, bound to alice, as `role`
    when one is named (else as the admin engine's superuser, whose policy reads everything)."""
    statements = [
        "LOAD 'auto_explain'",
        "SET auto_explain.log_min_duration = 0",
        "SET auto_explain.log_nested_statements = on",
        "SET auto_explain.log_level = notice",
        "SET client_min_messages = notice",
    ]
    if role is not None:
        statements.append(f'SET ROLE "{role}"')
    statements.append("SELECT set_config('app.user_id', 'alice', false)")
    for statement in statements:
        connection.execute(text(statement))


def test_a_title_page_and_a_search_page_read_their_indexes(settings: Settings) -> None:
    """sort=title is a range of its index in code-point order (on PostgreSQL the index's title is
    under COLLATE "C", as the ORDER BY is: another collation could not give the order); q on
    SQLite tests the texts in their covering index (research L3)."""
    engine = make_engine(settings.database_url)
    try:
        if engine.dialect.name == "sqlite":
            from todo_api.db.lifecycle import upgrade

            upgrade(engine)
        owner = {store._OWNER: "alice", "p_limit": 21}
        with transaction(engine, "alice") as connection:
            title = store.ListShape(Sort.named("title"), "none")
            by_title = _plan(connection, title, owner)
            after = store.ListShape(Sort.named("-title"), "key")
            key = {"p_after_key": "m", "p_after_id": 5}
            after_title = _plan(connection, after, owner | key)
            search = store.ListShape(
                Sort.named("-created_at"), "none", search=True, texts_index=True
            )
            by_text = _plan(connection, search, owner | {"p_like": "%x%"})
            if engine.dialect.name == "sqlite":
                by_trigram = {
                    sort: _plan(
                        connection,
                        store.ListShape(Sort.named(sort), "key", search=True, trigram=True),
                        owner
                        | {"p_like": "%xyz%", "p_trigram": "xyz", "p_after_id": 9}
                        | {"p_after_key": "m" if sort == "title" else BASE},
                    )
                    for sort in ("-created_at", "title", "due_at")
                }
    finally:
        engine.dispose()
    for plan in (by_title, after_title):
        assert "ix_tasks_owner_id_title_number" in plan
        assert "Sort" not in plan
        assert "TEMP B-TREE" not in plan
    if engine.dialect.name == "sqlite":
        assert "COVERING INDEX ix_tasks_owner_id_number_texts" in by_text
        # A search from a trigram: the owner's postings of it, each task read by its rowid
        # (research L4), whatever the sort and cursor; never the owner's whole range.
        for plan in by_trigram.values():
            assert "SEARCH task_trigrams USING PRIMARY KEY (owner_id=? AND trigram=?)" in plan
            assert "SEARCH tasks USING INTEGER PRIMARY KEY (rowid=?)" in plan, plan


def _seed_a_shared_table(admin: Engine, *, dated: bool) -> None:
    """30,000 tasks `task <n>` numbered n, one in ten alice's, spread over the table as in a
    shared one (`dated`: each due n minutes from now), and the planner's statistics of them."""
    with admin.begin() as connection:
        connection.execute(
            text(
                "INSERT INTO tasks (owner_id, number, title, completed, due_at, created_at, "
                "updated_at) SELECT CASE WHEN g % 10 = 0 THEN 'alice' ELSE 'u' || g % 100 "
                "END, g, 'task ' || g, false, CASE WHEN :dated THEN now() + g * interval "
                "'1 minute' END, now(), now() FROM generate_series(1, 30000) g"
            ),
            {"dated": dated},
        )
        connection.execute(text("ANALYZE tasks"))


def test_a_search_on_postgresql_finds_its_matches_through_the_trigram_keys(
    postgres: pg_databases.Database,
) -> None:
    """Under Row-Level Security no index can answer the LIKE (it is not LEAKPROOF, so it waits
    for the policy); the search function, reading as the schema owner, looks the needle's keys
    (the owner's own trigrams) up in the GIN index, and the page then reads the tasks found by
    their numbers (research L3, L4)."""
    admin = postgres.admin_engine()
    plans: list[str] = []
    try:
        _seed_a_shared_table(admin, dated=False)
        with admin.connect() as connection:
            _plans_into(connection, plans)
            _explaining(connection)
            found = connection.execute(
                text("SELECT task_trigram_matches('%task 12340%', 'task 12340', 101)")
            )
            assert list(found.scalars()) == [12340]
    finally:
        admin.dispose()
    inner = next(plan for plan in plans if "task_trigram_keys(current_setting" in plan)
    assert "ix_tasks_trigram_keys" in inner, inner
    # The needle's keys are looked up in the index, not tested on each of the owner's rows.
    assert any("Index Cond" in line and "@>" in line for line in inner.splitlines()), inner

    # The page as the application role: its own statement scans no table (what is planned at
    # each request is small), and the function's statements, planned once per session (generic:
    # their values as parameters), look the found tasks up by number (research L5).
    page_plans: list[str] = []
    admin = postgres.admin_engine()
    try:
        with admin.connect() as connection:
            _plans_into(connection, page_plans)
            _explaining(connection, make_url(postgres.app_url).username)
            shape = store.ListShape(Sort.named("-created_at"), "none", search=True, found=True)
            statement = store.list_statement(shape).rendered(connection.dialect)
            params = {store._OWNER: "alice", "p_limit": 21, "p_like": "%task 1234%"}
            params |= {"p_needle": "task 1234", "p_found_max": store.SEARCH_FOUND_MAX}
            for _ in range(2):  # the second call: the plans kept from the first
                page_plans.clear()
                rows = connection.exec_driver_sql(statement.sql, statement.values(params)).all()
                assert [row[0] for row in rows] == [12340]
            connection.execute(text("RESET ROLE"))
    finally:
        admin.dispose()
    page = next(plan for plan in page_plans if "task_search_found(" in plan)
    assert "Function Scan on task_search_found" in page, page
    assert " on tasks" not in page, page
    by_number = next(plan for plan in page_plans if "number = ANY(numbers)" in plan)
    # The found tasks (`task 12340`) are looked up by number, not filtered from the owner's
    # range, with a generic plan: the array is a parameter, not the value of this call.
    assert "ux_tasks_owner_id_number" in by_number, by_number
    assert any(
        "Index Cond" in line and "number = ANY ($" in line for line in by_number.splitlines()
    ), by_number


def test_a_frequent_search_on_postgresql_reads_the_owners_tasks_in_the_sorts_order(
    postgres: pg_databases.Database,
) -> None:
    """A pattern found frequent (or too short for a trigram) is the LIKE alone; the planner,
    whose estimate of a LIKE over lower-cased texts is a few rows, would read every dated task
    of the owner and sort them: the store turns sorting off for that transaction, so the page
    is the sort's index in order, stopping once it is full (research L5)."""
    admin = postgres.admin_engine()
    plans: list[str] = []
    try:
        _seed_a_shared_table(admin, dated=True)
        with admin.connect() as connection:
            _plans_into(connection, plans)
            app_role = make_url(postgres.app_url).username
            for frequent in (True, False):
                _explaining(connection, app_role)
                query = store.ListQuery(Sort.named("-due_at"), like="%task%", frequent=frequent)
                page = store.list_page(connection, owner_id="alice", query=query, limit=20)
                assert page.frequent is not frequent
                if frequent:
                    assert [task["id"] for task in page.tasks] == list(range(30000, 29800, -10))
                connection.rollback()  # the role, the bind and the setting with it
    finally:
        admin.dispose()
    like = next(plan for plan in plans if "~~" in plan and "due_at DESC" in plan)
    assert "Index Scan Backward using ix_tasks_owner_id_due_at_number" in like, like
    assert "Sort" not in like, like
