"""Cross-cutting ASGI middleware that is not about authentication."""
