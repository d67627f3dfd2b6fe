"""settings/env.py: which .env the `todo-api` command reads, from the checkout or named, inside it
or not."""

from __future__ import annotations

import importlib.metadata
import os
import subprocess
import sys
import tomllib
from pathlib import Path

import jwt
import pytest

from todo_api.settings import ConfigError, find_env_file, load_settings, project_root

pytestmark = pytest.mark.unit


GOOD = "a-perfectly-good-development-secret-0123456789"


REPO = Path(__file__).resolve().parents[3]


def test_the_checkout_is_found_from_the_package_not_the_working_directory() -> None:
    assert project_root() == REPO  # cwd is the test's tmp_path, outside the checkout


def test_a_folder_of_another_project_is_no_checkout(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text('[project]\nname = "something-else"\n')
    (tmp_path / "pkg").mkdir()
    assert project_root(tmp_path / "pkg" / "module.py") is None


def test_env_file_is_the_working_directory_s_then_the_checkout_s(tmp_path: Path) -> None:
    checkout = tmp_path / "checkout"
    checkout.mkdir()
    assert find_env_file(root=checkout) is None
    (checkout / ".env").write_text(f"BETTER_AUTH_SECRET={GOOD}\n")
    assert find_env_file(root=checkout) == checkout / ".env"
    Path(".env").write_text(f"BETTER_AUTH_SECRET={GOOD}\n")  # cwd is tmp_path
    assert find_env_file(root=checkout) == Path(".env")


def test_an_env_file_named_is_read_and_must_exist(tmp_path: Path) -> None:
    named = tmp_path / "elsewhere.env"
    named.write_text(f"BETTER_AUTH_SECRET={GOOD}\nAUTH_LEEWAY_SECONDS=7\n")
    Path(".env").write_text("AUTH_LEEWAY_SECONDS=9\n")  # not read: the named file replaces it
    settings = load_settings(env_file=find_env_file(str(named)))
    assert settings.secret_bytes() == GOOD.encode()
    assert settings.auth_leeway_seconds == 7
    with pytest.raises(ConfigError, match="--env-file"):
        find_env_file(str(tmp_path / "missing.env"))


def test_token_and_version_from_outside_the_checkout(tmp_path: Path) -> None:
    named = tmp_path / "dev.env"
    named.write_text(f"BETTER_AUTH_SECRET={GOOD}\n")
    todo_api = str(Path(sys.executable).with_name("todo-api"))
    env = {"PATH": os.environ.get("PATH", ""), "HOME": str(tmp_path)}
    token = subprocess.run(
        [todo_api, "--env-file", str(named), "token", "--sub", "demo-user"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert token.returncode == 0, token.stderr
    claims = jwt.decode(token.stdout.strip(), GOOD, algorithms=["HS256"])
    assert claims["sub"] == "demo-user"
    version = subprocess.run(
        [todo_api, "--version"], capture_output=True, text=True, timeout=60, check=True
    )
    assert version.stdout.strip() == f"todo-api {importlib.metadata.version('todo-api')}"
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    assert importlib.metadata.version("todo-api") == project["version"]
