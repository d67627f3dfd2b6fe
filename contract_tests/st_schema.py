"""The spec as a Schemathesis schema bound to an app, always with the repo's schemathesis.toml.

Loaded by path, not discovered from the working directory: tests run from temporary directories,
where discovery would silently fall back to defaults (inferred links, no seed, no hooks).
"""

from __future__ import annotations

from pathlib import Path

import schemathesis
from fastapi import FastAPI
from schemathesis.config import SchemathesisConfig
from schemathesis.schemas import BaseSchema

from todo_api.spec import spec_path

CONFIG = Path(__file__).resolve().parents[1] / "schemathesis.toml"


def load_schema(app: FastAPI) -> BaseSchema:
    schema = schemathesis.openapi.from_path(
        spec_path(), config=SchemathesisConfig.from_path(CONFIG)
    )
    schema.app = app
    return schema
