"""docs/operations.md names every setting the service reads, with its default."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_every_linli_variable_the_service_reads_is_documented() -> None:
    code = "\n".join(p.read_text(encoding="utf-8") for p in (ROOT / "service").glob("*.py"))
    read = set(re.findall(r'"(LINLI_[A-Z_]+)"', code))
    guide = (ROOT / "docs" / "operations.md").read_text(encoding="utf-8")
    documented = set(re.findall(r"^\| `(LINLI_[A-Z_]+)` \|", guide, re.MULTILINE))
    assert read <= documented, sorted(read - documented)
    assert documented <= read, sorted(documented - read)
