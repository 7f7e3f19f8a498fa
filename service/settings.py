"""Service settings, read from the environment (LINLI_*)."""

from __future__ import annotations

import os

import msgspec

DEFAULT_DATABASE_URL = "sqlite+aiosqlite:///linli.db"


class Settings(msgspec.Struct, frozen=True, kw_only=True):
    database_url: str = DEFAULT_DATABASE_URL

    @classmethod
    def from_env(cls) -> Settings:
        return cls(database_url=os.environ.get("LINLI_DATABASE_URL", DEFAULT_DATABASE_URL))
