"""Opening a database that holds the ledger and the marketplace side by side."""

from __future__ import annotations

import importlib.resources
from typing import Any

from points import Database

MIGRATIONS = str(importlib.resources.files("marketplace") / "migrations" / "versions")
"""The marketplace's Alembic version directory (it depends on the ledger's first revision)."""


def open_database(url: str, **options: Any) -> Database:
    """A :class:`points.Database` whose ``upgrade()`` creates the marketplace's tables too."""
    return Database(url, migrations=(MIGRATIONS, *options.pop("migrations", ())), **options)
