"""The hooks module to name in schemathesis.toml (`hooks = "schemathesis_ownership.hooks"`):
registers the checks and the auth provider, configured by the nearest
schemathesis-ownership.toml (or the file SCHEMATHESIS_OWNERSHIP_CONFIG names)."""

from .binding import use
from .config import discover
from .registry import register

register()
use(discover())
