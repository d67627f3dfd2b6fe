"""OpenAPI-first Tasks API: JWT bearer auth from Better Auth, per-user isolation."""
