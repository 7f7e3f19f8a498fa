from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

import service_world
from service_world import Service


@pytest.fixture
async def svc(backend_ready: str) -> AsyncIterator[Service]:
    async with service_world.running(backend_ready) as running:
        yield running
