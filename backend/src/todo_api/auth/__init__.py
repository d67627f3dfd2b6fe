"""Authentication: token verification, the ASGI gate, and the typed identity for routes."""
