"""schemathesis-ownership.toml and WFC auth documents, read into an Ownership."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import schemathesis_ownership as ownership
from schemathesis_ownership.config import from_mapping


def test_a_wfc_document_gives_fixed_users_with_any_header(tmp_path: Path) -> None:
    document = {
        "auth": [
            {"name": "alice", "fixedHeaders": [{"name": "X-Api-Key", "value": "k1"}]},
            {"name": "bob", "fixedHeaders": [{"name": "Cookie", "value": "session=s2"}]},
            {"name": "carol", "loginEndpointAuth": {"endpoint": "/login"}},
        ]
    }
    (tmp_path / "auth.json").write_text(json.dumps(document))
    (tmp_path / "schemathesis-ownership.toml").write_text('wfc = "auth.json"\nchallenge = false\n')
    loaded = ownership.discover(tmp_path)
    assert [i.name for i in loaded.identities] == ["alice", "bob"]
    assert loaded.identity("bob").headers == {"Cookie": "session=s2"}
    assert (loaded.caller, loaded.attacker_of("alice")) == ("alice", "bob")
    assert loaded.challenge is None


def test_users_in_the_file_read_credentials_from_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("BOB_SESSION", "opaque-bob")
    loaded = from_mapping(
        {
            "users": {
                "alice": {"headers": {"Authorization": "Bearer a"}},
                "bob": {"cookies": {"session": "${BOB_SESSION}"}},
            },
            "foreign-statuses": [403, 404],
            "volatile-members": ["timestamp"],
        }
    )
    assert loaded.identity("bob").cookies == {"session": "opaque-bob"}
    assert loaded.credential_names() == (frozenset({"authorization"}), frozenset({"session"}))
    assert loaded.foreign_statuses == {403, 404}
    assert loaded.volatile_members == {"timestamp"}


def test_a_mint_function_is_imported_from_the_files_folder(tmp_path: Path) -> None:
    (tmp_path / "my_tokens.py").write_text("def mint(sub):\n    return 'token-for-' + sub\n")
    (tmp_path / "schemathesis-ownership.toml").write_text('mint = "my_tokens:mint"\n')
    loaded = ownership.load(tmp_path / "schemathesis-ownership.toml")
    assert loaded.identity("alice").headers == {"Authorization": "Bearer token-for-alice"}
    assert (loaded.caller, loaded.attackers) == ("alice", ("mallory", "eve"))


def test_unknown_keys_and_a_single_user_are_refused() -> None:
    with pytest.raises(ValueError, match="unknown keys \\['mnt'\\]"):
        from_mapping({"mnt": "x:y"})
    with pytest.raises(ValueError, match="at least two users"):
        from_mapping({"users": {"alice": {"headers": {"Authorization": "Bearer a"}}}})
