"""Ownership checks for Schemathesis 4: no user reads or changes another's data, and no forged,
expired or unsigned credential gets in. Importing the package registers nothing: call
`register()` (or name `schemathesis_ownership.hooks` as Schemathesis hooks), and say who the
users are with `use()`/`bind()` or a schemathesis-ownership.toml. See README.md."""

from .binding import PROBLEM_MEMBERS, Identity, Ownership, bind, binding_of, declarations_of, use
from .checks import cross_user_isolation, unauthenticated_replays
from .config import discover, load, read_wfc
from .credentials import OwnerBearer, owner_of
from .declarations import Declarations, read
from .objects import token_owned_isolation
from .registry import register

__version__ = "0.4.0"

__all__ = [
    "PROBLEM_MEMBERS",
    "Declarations",
    "Identity",
    "OwnerBearer",
    "Ownership",
    "__version__",
    "bind",
    "binding_of",
    "cross_user_isolation",
    "declarations_of",
    "discover",
    "load",
    "owner_of",
    "read",
    "read_wfc",
    "register",
    "token_owned_isolation",
    "unauthenticated_replays",
    "use",
]
