"""Loads the shared fixtures (backend/tests/api_fixtures.py) for backend and contract tests."""

pytest_plugins = ["api_fixtures"]
