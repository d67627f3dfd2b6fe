"""Ownership checks for Schemathesis, driven by the spec's `x-owner`, `x-resource-id` and
`x-lists` declarations. Importing the package registers the auth provider and both checks;
`use()` or `bind()` says how to mint the API's tokens. See README.md."""

from .binding import PROBLEM_MEMBERS, Ownership, bind, use
from .checks import cross_user_isolation, unauthenticated_replays
from .credentials import OwnerBearer
from .declarations import Declarations, read

__all__ = [
    "PROBLEM_MEMBERS",
    "Declarations",
    "OwnerBearer",
    "Ownership",
    "bind",
    "cross_user_isolation",
    "read",
    "unauthenticated_replays",
    "use",
]
