"""`npm ci` runs once per folder when parallel test workers ask for it at the same time: a second
install would delete the node_modules the first one is writing (or another test is reading)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

# Stands in for npm: records each install, slow enough for the two callers to overlap, and writes
# the file npm writes last.
FAKE_NPM = """#!/bin/sh
echo start >> "$NPM_LOG"
sleep 1
mkdir -p node_modules && touch node_modules/.package-lock.json
echo end >> "$NPM_LOG"
"""
CALL = (
    "import sys; from pathlib import Path; from node_tools import npm_ci;"
    " npm_ci(Path(sys.argv[1]), 'a test')"
)


def test_two_workers_asking_at_once_get_one_install(tmp_path: Path) -> None:
    tools = tmp_path / "bin"
    tools.mkdir()
    for name, script in (("npm", FAKE_NPM), ("node", "#!/bin/sh\n")):
        (tools / name).write_text(script)
        (tools / name).chmod(0o755)
    folder = tmp_path / "package"
    folder.mkdir()
    (folder / "package-lock.json").write_text("{}\n")
    log = tmp_path / "npm.log"
    env = os.environ | {
        "PATH": f"{tools}{os.pathsep}{os.environ['PATH']}",
        "NPM_LOG": str(log),
        "PYTHONPATH": str(Path(__file__).resolve().parents[1]),
    }
    workers = [
        subprocess.Popen([sys.executable, "-c", CALL, str(folder)], env=env) for _ in range(2)
    ]
    assert [worker.wait(timeout=60) for worker in workers] == [0, 0]
    assert log.read_text().split() == ["start", "end"]
