"""The lock files pin what pyproject.toml declares, with hashes; the venv is the lock."""

import importlib.metadata
import re
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import NormalizedName, canonicalize_name
from packaging.version import Version

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[3]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
LOCKS = ROOT / "requirements"

# `name==version \` opens an entry; its `--hash=sha256:` lines follow until the next entry.
_PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==(\S+)")


def read_lock(name: str) -> dict[NormalizedName, tuple[Version, int]]:
    """Map each pinned package of requirements/<name>.lock to (version, number of hashes)."""
    pins: dict[NormalizedName, tuple[Version, int]] = {}
    current: NormalizedName | None = None
    for line in (LOCKS / f"{name}.lock").read_text().splitlines():
        if match := _PIN.match(line):
            current = canonicalize_name(match[1])
            assert current not in pins, f"{current} pinned twice in {name}.lock"
            pins[current] = (Version(match[2]), 0)
        elif current is not None and line.strip().startswith("--hash=sha256:"):
            version, hashes = pins[current]
            pins[current] = (version, hashes + 1)
    return pins


def requirements_of(*groups: str) -> list[Requirement]:
    """The declared requirements: "runtime", an optional group's name, or "build"."""
    found: list[str] = []
    for group in groups:
        if group == "runtime":
            found += PYPROJECT["project"]["dependencies"]
        elif group == "build":
            found += PYPROJECT["build-system"]["requires"]
            found += _lines(LOCKS / "build.in")
        else:
            found += PYPROJECT["project"]["optional-dependencies"][group]
    return [Requirement(text) for text in found]


def _lines(path: Path) -> list[str]:
    text = (line.split("#", 1)[0].strip() for line in path.read_text().splitlines())
    return [line for line in text if line]


# Which declared groups each lock must cover (make install uses dev, make bench adds bench).
COVERAGE = {
    "runtime": ("runtime", "build"),
    "dev": ("runtime", "dev", "build"),
    "bench": ("runtime", "dev", "bench", "build"),
}


@pytest.mark.parametrize(("lock", "groups"), COVERAGE.items())
def test_every_declared_dependency_is_pinned_within_its_range(
    lock: str, groups: tuple[str, ...]
) -> None:
    pins = read_lock(lock)
    for requirement in requirements_of(*groups):
        name = canonicalize_name(requirement.name)
        assert name in pins, f"{name} is declared but not in {lock}.lock: run `make lock`"
        version, _ = pins[name]
        assert requirement.specifier.contains(version, prereleases=True), (
            f"{lock}.lock pins {name}=={version}, outside {requirement.specifier}: run `make lock`"
        )


@pytest.mark.parametrize("lock", COVERAGE)
def test_every_pin_carries_hashes(lock: str) -> None:
    # One hash is enough to turn on pip's hash-checking mode; every entry needs at least one.
    unhashed = [name for name, (_, hashes) in read_lock(lock).items() if hashes == 0]
    assert not unhashed, f"pins without a hash in {lock}.lock: {unhashed}"


def test_the_locks_agree_on_shared_versions() -> None:
    dev, others = read_lock("dev"), [read_lock("runtime"), read_lock("bench")]
    for pins in others:
        for name, (version, _) in pins.items():
            if name in dev:
                assert version == dev[name][0], (
                    f"{name}: {version} against dev.lock's {dev[name][0]}"
                )


def test_the_build_inputs_match_the_build_system() -> None:
    declared = {
        canonicalize_name(Requirement(r).name) for r in PYPROJECT["build-system"]["requires"]
    }
    listed = {canonicalize_name(Requirement(r).name) for r in _lines(LOCKS / "build.in")}
    assert declared <= listed


def test_the_installed_environment_is_the_dev_lock() -> None:
    # `make install` installs from the lock; a venv built from pyproject's ranges would differ.
    wrong = {}
    for name, (version, _) in read_lock("dev").items():
        try:
            installed = Version(importlib.metadata.version(name))
        except importlib.metadata.PackageNotFoundError:
            wrong[name] = "missing"
            continue
        if installed != version:
            wrong[name] = f"{installed} installed, {version} locked"
    assert not wrong, f"the venv is not requirements/dev.lock (run `make install`): {wrong}"
