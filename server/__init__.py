"""Composition root: settings, app factory, CLI, accounts and auth, DB and Redis wiring."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("liveshop")
except PackageNotFoundError:  # pragma: no cover - running from a bare checkout
    __version__ = "0.0.0"
