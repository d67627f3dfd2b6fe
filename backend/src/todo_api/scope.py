"""Keys of what the middleware leaves in the ASGI scope's `state` for the layers inside it.

A module of its own, importing nothing: errors, the middleware and the dependencies all read them.
"""

# The verified caller (auth.identity.Identity), set by auth.middleware for every /api request.
IDENTITY_KEY = "identity"
# This request's correlation id (str), set by middleware.request_id.
REQUEST_ID_KEY = "request_id"
