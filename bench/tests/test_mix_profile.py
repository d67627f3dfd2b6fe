"""bench/mix_profile.py's layers name code that exists: a layer whose module moved would count
nothing and its samples would land in an outer layer, a table quietly wrong (research P37)."""

from __future__ import annotations

import re
from pathlib import Path

import mix_profile

SRC = Path(__file__).resolve().parents[2] / "backend" / "src"


def test_every_product_path_a_layer_names_exists() -> None:
    paths = {
        match.group(0)
        for _, needles in mix_profile.LAYERS
        for needle in needles
        if (match := re.search(r"todo_api/[\w/]*(\.py)?", needle))
    }
    assert paths
    assert [path for path in sorted(paths) if not (SRC / path).exists()] == []


def test_the_floors_encoding_lines_and_the_executors_wake_are_found() -> None:
    json_needles = next(
        needles for name, needles in reversed(mix_profile.LAYERS) if name.startswith("response")
    )
    assert sum("(floor.py:" in needle for needle in json_needles) >= 2
    assert mix_profile.ARTEFACTS[-1].startswith("ThreadPoolExecutor.submit (")


def test_a_sample_goes_to_its_innermost_layer_and_outside_the_requests_to_none() -> None:
    request = [
        "thread (1): MainThread",
        "child.<locals>.timed (mix_profile.py:120)",
        "_drive (cpu_mix.py:78)",
        "RequestIdMiddleware.__call__ (todo_api/middleware/request_id.py:90)",
        "AuthMiddleware.__call__ (todo_api/auth/middleware.py:56)",
        "TokenCache.cached (todo_api/auth/token_cache.py:57)",
    ]
    assert mix_profile.layer(request).startswith("authentication")
    assert mix_profile.layer(request[:3]) == mix_profile.CLIENT
    assert mix_profile.layer(["thread (1): MainThread", "seed_tasks (common.py:10)"]) is None
    floor_write = [
        "thread (2): writer_0",
        "_WorkItem.run (concurrent/futures/thread.py:58)",
        "Floor._write.<locals>.work (floor.py:250)",
    ]
    assert mix_profile.layer(floor_write).startswith("store")
    assert mix_profile.thread_kind(floor_write[0]) == mix_profile.thread_kind(
        "thread (3): db-writer-0"
    )
