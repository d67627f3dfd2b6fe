"""Abuse limits (OWASP API4): per-user request budgets and a failed-authentication throttle."""
