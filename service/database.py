"""The service's database: the ledger's, the marketplace's and the service's tables together."""

from __future__ import annotations

import importlib.resources

import marketplace
from points import Database
from service.settings import Settings

MIGRATIONS = str(importlib.resources.files("service") / "migrations" / "versions")
"""The service's Alembic version directory (branch "service", after the marketplace's m0001)."""


def open_database(settings: Settings, **options: int) -> Database:
    """Every table the service needs; ``upgrade()`` migrates all three branches."""
    extra = (
        {}
        if settings.database_url.startswith("sqlite")
        else {"pool_size": settings.pool_size, "threads": settings.db_threads}
    )
    return marketplace.open_database(
        settings.database_url, migrations=(MIGRATIONS,), **extra, **options
    )
