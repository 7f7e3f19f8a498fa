from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

import service_world as sw
from pages_world import Site


@pytest.fixture
async def site() -> AsyncIterator[Site]:
    async with sw.running("sqlite") as svc:
        found = Site(svc)
        try:
            yield found
        finally:
            await found.close()
