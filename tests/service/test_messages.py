"""Words a person reads: every refusal of the lifecycle table's guards, and every cause the
libraries refuse with, says why in Chinese (and in English)."""

from __future__ import annotations

import ast
import string
from pathlib import Path

import marketplace as mk
import points
from service import i18n
from service.problems import GUARDS_ZH

ROOT = Path(__file__).resolve().parents[2]


def test_every_guard_of_the_lifecycle_table_has_a_chinese_reason() -> None:
    assert set(GUARDS_ZH) == set(mk.GUARDS)
    assert all(words and words.isprintable() for words in GUARDS_ZH.values())


# Causes: every code the libraries refuse with reads in both languages, parameters filled in.


def _params(template: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(template) if name}


def _raised_causes() -> list[tuple[str, str, set[str] | None]]:
    """(where, code, parameter names or None when not literal) of every ``Cause(...)`` written
    in the libraries and the service."""
    found = []
    for path in [*ROOT.glob("src/**/*.py"), *ROOT.glob("service/**/*.py")]:
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            called = getattr(node, "func", None)
            name = getattr(called, "id", None) or getattr(called, "attr", None)
            if not isinstance(node, ast.Call) or name != "Cause" or not node.args:
                continue
            code = node.args[0]
            assert isinstance(code, ast.Constant), f"{path}:{node.lineno}: a code is a literal"
            params: set[str] | None = set()
            if len(node.args) > 1:
                given = node.args[1]
                literal = isinstance(given, ast.Dict) and all(
                    isinstance(k, ast.Constant) for k in given.keys
                )
                params = {k.value for k in given.keys} if literal else None  # type: ignore[union-attr]
            found.append((f"{path.relative_to(ROOT)}:{node.lineno}", code.value, params))
    return found


def test_every_cause_code_reads_in_english_and_chinese_with_its_parameters() -> None:
    assert set(i18n.CAUSES_ZH) == set(points.CAUSES)
    for code, english in points.CAUSES.items():
        names = _params(english)
        assert _params(i18n.CAUSES_ZH[code]) <= names, code
        cause = points.Cause(code, dict.fromkeys(names, "v"), field="claim_limit")
        for text in (str(cause), i18n.cause_zh(cause)):
            assert "{" not in text, (code, text)
            assert "}" not in text, (code, text)
        assert i18n.cause_zh(cause) != "认领上限不符合要求", code
        assert i18n.cause_zh(cause).startswith("认领上限"), code


def test_every_cause_raised_names_a_code_with_exactly_its_parameters() -> None:
    raised = _raised_causes()
    assert len(raised) > 50
    for where, code, params in raised:
        assert code in points.CAUSES, f"{where}: unknown cause code {code!r}"
        if params is not None:
            assert params == _params(points.CAUSES[code]), f"{where}: {code} takes other params"


def test_causes_once_read_generically_now_say_why_in_chinese() -> None:
    said = {
        i18n.cause_zh(mk.InvalidInput("unit_id", points.Cause("pair_unit_community")).reason),
        i18n.cause_zh(points.Cause("id_taken", {"what": "org"})),
        i18n.cause_zh(points.Cause("wish_role", {"role": "claimant"})),
        i18n.cause_zh(points.Cause("org_parent", {"kind": "grid", "parent": "unit"})),
    }
    assert said == {
        "只能将单位与社区结对",
        "该编号已被其他组织使用",
        "“认领人”是与心愿的关系，不是组织中的角色",
        "网格不能设在单位之下",
    }
