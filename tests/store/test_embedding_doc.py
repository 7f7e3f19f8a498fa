"""docs/embedding.md's example runs as written and prints what the page says it prints."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

DOC = Path(__file__).resolve().parents[2] / "docs" / "embedding.md"


EXAMPLES = re.findall(
    r"```python\n(.*?)```\s*It prints:\n\n```\n(.*?)```", DOC.read_text(encoding="utf-8"), re.S
)


def test_the_page_has_its_two_examples() -> None:
    assert len(EXAMPLES) == 2


@pytest.mark.parametrize(("code", "shown"), EXAMPLES, ids=["ledger", "marketplace"])
def test_each_embedding_example_runs_and_prints_what_the_doc_says(
    code: str, shown: str, tmp_path: Path
) -> None:
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout == shown
