"""Words a person reads: every refusal of the lifecycle table's guards says why in Chinese."""

from __future__ import annotations

import marketplace as mk
from service.problems import GUARDS_ZH


def test_every_guard_of_the_lifecycle_table_has_a_chinese_reason() -> None:
    assert set(GUARDS_ZH) == set(mk.GUARDS)
    assert all(words and words.isprintable() for words in GUARDS_ZH.values())
