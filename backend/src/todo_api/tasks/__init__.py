"""Tasks: routes → service → store, every store call scoped by owner."""
