"""Repositories: one module per aggregate, plain async functions over an ``AsyncSession``.

Callers own the transaction (``async with sessions.begin()``) so that a change and
the events it causes commit together.
"""
