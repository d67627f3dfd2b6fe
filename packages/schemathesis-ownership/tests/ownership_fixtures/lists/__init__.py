"""A second, differently shaped API (shopping lists of accounts) to prove that the ownership checks
follow the spec's declarations, not the Tasks API: a test fixture, not product code."""
