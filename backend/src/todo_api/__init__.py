"""OpenAPI-first Tasks API: JWT bearer auth from Better Auth, per-user isolation."""

# The distribution's name: what `todo-api --version` reports, and finds its checkout by.
PROJECT_NAME = "todo-api"
