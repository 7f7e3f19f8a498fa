from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest

import service_world as sw
from pages_world import Site


@pytest.fixture
async def site() -> AsyncIterator[Site]:
    async with _site("sqlite") as found:
        yield found


@pytest.fixture
async def site_on(backend_ready: str) -> AsyncIterator[Site]:
    """The site on each backend, for what the database decides (a form's idempotency key)."""
    async with _site(backend_ready) as found:
        yield found


@asynccontextmanager
async def _site(backend: str) -> AsyncIterator[Site]:
    async with sw.running(backend) as svc:
        found = Site(svc)
        try:
            yield found
        finally:
            await found.close()
