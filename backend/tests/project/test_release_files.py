"""LICENSE, CHANGELOG.md and SECURITY.md exist and agree with pyproject.toml and the spec."""

import re
import tomllib
from pathlib import Path

import pytest
import yaml

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[3]
PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
INFO = yaml.safe_load((ROOT / "openapi" / "openapi.yaml").read_text())["info"]


def test_the_license_file_is_the_declared_one() -> None:
    assert PROJECT["license"] == INFO["license"]["identifier"] == "MIT"
    assert (ROOT / "LICENSE").read_text().startswith("MIT License\n")


def test_the_changelog_has_the_current_version_and_an_unreleased_section() -> None:
    # The spec's info.version is the API's version; the package ships under the same number.
    version = INFO["version"]
    assert re.fullmatch(r"\d+\.\d+\.\d+", version), "info.version is not semantic versioning"
    assert PROJECT["version"] == version
    headings = re.findall(r"^## \[([^\]]+)\]", (ROOT / "CHANGELOG.md").read_text(), re.MULTILINE)
    assert headings[0] == "Unreleased"
    assert version in headings, f"CHANGELOG.md has no entry for {version}"


def test_the_security_policy_names_a_private_channel() -> None:
    policy = (ROOT / "SECURITY.md").read_text()
    assert "Report a vulnerability" in policy
    assert "Do not open a public issue" in policy
