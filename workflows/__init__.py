"""Deterministic Temporal workflows and the version-neutral domain types they share.

Nothing in this package performs I/O: side effects live in :mod:`activities`.
"""
