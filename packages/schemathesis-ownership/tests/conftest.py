"""The package's tests register its checks as a user's hooks module would."""

import schemathesis_ownership

schemathesis_ownership.register()
