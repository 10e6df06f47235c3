"""CLI verbs: each module here defines `register(subparsers)` and its handlers."""
