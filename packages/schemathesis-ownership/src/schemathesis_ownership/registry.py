"""`register()`: makes the checks and the auth provider known to Schemathesis, once."""

from __future__ import annotations

import schemathesis

from .checks import cross_user_isolation, unauthenticated_replays
from .credentials import OwnerBearer
from .objects import token_owned_isolation

CHECKS = (unauthenticated_replays, cross_user_isolation, token_owned_isolation)
_done: set[str] = set()


def register(*, auth: bool = True) -> None:
    """Register the three checks with Schemathesis (`@schemathesis.check`) and, unless `auth` is
    False (you authenticate cases yourself), the provider that authenticates each case as the
    owner its path names. Idempotent. Importing the package registers nothing."""
    if "checks" not in _done:
        for check in CHECKS:
            schemathesis.check(check)
        _done.add("checks")
    if auth and "auth" not in _done:
        schemathesis.auth(refresh_interval=None, retry_on=[])(OwnerBearer)
        _done.add("auth")
