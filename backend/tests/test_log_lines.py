"""log_lines.py: whole lines in order from several writers into one pipe, and an event loop that
a stderr nobody reads does not stop. Each writer is a process of its own, as a worker is."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from collections import defaultdict

import pytest

from todo_api.log_lines import MAX_PENDING_BYTES, PIPE_BUF

pytestmark = pytest.mark.unit

HAMMER = """
import asyncio, json, os, sys, threading
from todo_api.log_lines import LineSink

sink = LineSink()

def line(writer: str, n: int) -> bytes:
    pad = "x" * (n * 37 % 1500)  # 60 to 1,560 bytes: several lines per write, never one
    entry = {"pid": os.getpid(), "writer": writer, "n": n, "pad": pad}
    return json.dumps(entry).encode() + b"\\n"

async def loop_writer(name: str) -> None:
    for n in range(2000):
        sink.put(line(name, n))
        if n % 7 == 0:
            await asyncio.sleep(0)  # a loop iteration: its lines leave in one write

def thread_writer(name: str) -> None:  # no event loop in this thread: writes as it goes
    for n in range(2000):
        sink.put(line(name, n))

threads = [threading.Thread(target=asyncio.run, args=(loop_writer(f"loop{i}"),)) for i in (1, 2)]
threads.append(threading.Thread(target=thread_writer, args=("thread",)))
for thread in threads:
    thread.start()
for thread in threads:
    thread.join()
sink.close()
"""


def test_two_processes_of_several_writers_into_one_pipe_never_tear_a_line() -> None:
    read_end, write_end = os.pipe()
    writers = [subprocess.Popen([sys.executable, "-c", HAMMER], stderr=write_end) for _ in range(2)]
    os.close(write_end)
    with os.fdopen(read_end, "rb") as output:
        data = output.read()  # read as it comes: the pipe fills and drains all along
    assert [writer.wait(timeout=60) for writer in writers] == [0, 0]
    seen: dict[tuple[int, str], list[int]] = defaultdict(list)
    dropped = 0
    for raw in data.splitlines():
        line = json.loads(raw)  # a torn or interleaved line does not parse
        if "writer" in line:
            seen[line["pid"], line["writer"]].append(line["n"])
        else:  # more queued than MAX_PENDING_BYTES while the reader lagged: counted
            dropped += line["dropped"]
    assert len({pid for pid, _ in seen}) == 2  # a writer may lose all its lines, not a process
    assert all(numbers == sorted(set(numbers)) for numbers in seen.values())  # in their order
    assert sum(len(numbers) for numbers in seen.values()) + dropped == 6 * 2000
    assert PIPE_BUF >= 512  # POSIX: a write up to PIPE_BUF to a pipe is never interleaved


BLOCKED = """
import asyncio, json, sys
from todo_api.log_lines import LineSink

sink = LineSink()

async def main() -> None:
    for n in range(5000):
        sink.put(json.dumps({"n": n, "pad": "x" * 500}).encode() + b"\\n")
        await asyncio.sleep(0)
    print("answered", flush=True)  # stderr is still full: the loop went on
    sys.stdin.readline()  # the reader has started
    await asyncio.sleep(0.5)  # the loop writes what waited, as stderr drains

asyncio.run(main())
"""


def test_a_stderr_nobody_reads_never_stops_the_loop_and_drops_are_counted() -> None:
    with subprocess.Popen(
        [sys.executable, "-c", BLOCKED],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    ) as process:
        assert process.stdin
        assert process.stdout
        assert process.stderr
        timer = threading.Timer(60, process.kill)  # a blocked loop would never say "answered"
        timer.start()
        try:
            answered = process.stdout.readline()
        finally:
            timer.cancel()
        process.stdin.write(b"go\n")
        process.stdin.flush()
        written = [json.loads(line) for line in process.stderr.read().splitlines()]
    assert answered == b"answered\n"
    assert process.returncode == 0
    *lines, notice = written
    kept = len(lines)
    assert [line["n"] for line in lines] == list(range(kept))  # the first ones, none torn
    assert kept * 500 > MAX_PENDING_BYTES  # what waited was written once stderr drained
    assert (notice["level"], notice["dropped"]) == ("warning", 5000 - kept)
