"""The import rules of DESIGN.md section 6, read from the source (no import side effects)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import points

ROOT = Path(__file__).resolve().parents[2]
PURE = {"points.model", "points.policy", "points.errors", "points.causes"}
PURE_MARKETPLACE = {
    "marketplace.bounds",  # every field's bounds, written once
    "marketplace.lifecycle",  # who may do what: the tables and their guards
    "marketplace.matching",
    "marketplace.model",
    "marketplace.rules",
    "marketplace.errors",
    "marketplace.workdays",  # working days on the official calendar (the package is data)
    "marketplace.roster",  # a roster's rows checked against the community (花名册)
    "marketplace.sheets",  # a spreadsheet's bytes into rows
    "marketplace.notices",  # 通知: which move tells whom what
}
IO_MODULES = {"sqlalchemy", "asyncio", "aiosqlite", "asyncpg", "alembic", "litestar", "socket"}


def _modules(package: str) -> dict[str, Path]:
    base = ROOT / "src" / package
    found = {}
    for path in base.rglob("*.py"):
        parts = path.relative_to(base.parent).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        found[name] = path
    return found


def _imports(path: Path) -> list[tuple[str, tuple[str, ...]]]:
    """(module, names) for every import in a file, relative imports resolved to absolute."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    out: list[tuple[str, tuple[str, ...]]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out.extend((alias.name, ()) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                raise AssertionError(f"{path}: use absolute imports")
            out.append((node.module or "", tuple(a.name for a in node.names)))
    return out


def _top(module: str) -> str:
    return module.split(".")[0]


@pytest.mark.parametrize("package", ["points", "marketplace"])
def test_libraries_never_import_the_service_or_litestar(package: str) -> None:
    for name, path in _modules(package).items():
        for module, _ in _imports(path):
            assert _top(module) not in {"service", "litestar"}, f"{name} imports {module}"


def test_points_does_not_import_marketplace() -> None:
    for name, path in _modules("points").items():
        for module, _ in _imports(path):
            assert _top(module) != "marketplace", f"{name} imports {module}"


def test_marketplace_uses_only_the_public_names_of_points() -> None:
    public = set(points.__all__)
    for name, path in _modules("marketplace").items():
        for module, names in _imports(path):
            if _top(module) != "points":
                continue
            assert module == "points", f"{name} imports the private module {module}"
            assert set(names) <= public, f"{name} imports {set(names) - public} from points"


def test_pure_modules_do_no_io() -> None:
    modules = {**_modules("points"), **_modules("marketplace")}
    for name in PURE | PURE_MARKETPLACE:
        for module, _ in _imports(modules[name]):
            assert _top(module) not in IO_MODULES, f"pure module {name} imports {module}"
            if _top(module) == "marketplace":  # and only other pure modules of its own
                assert module in PURE_MARKETPLACE, f"pure module {name} imports {module}"


def test_not_allowed_is_raised_only_by_the_decision_module() -> None:
    """Who may do what, and from which state, is decided in marketplace.lifecycle alone (the
    service and the pages ask it too): no other module constructs a NotAllowed or a
    WrongState."""
    for name, path in {**_modules("marketplace"), **_service_modules()}.items():
        if name in ("marketplace.lifecycle", "marketplace.errors"):
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.Call):
                called = node.func
                label = getattr(called, "id", None) or getattr(called, "attr", None)
                assert label not in ("NotAllowed", "WrongState"), f"{name} raises {label} itself"


def _service_modules() -> dict[str, Path]:
    base = ROOT / "service"
    return {
        "service." + ".".join(p.relative_to(base).with_suffix("").parts): p
        for p in base.rglob("*.py")
    }


def test_the_checker_sees_a_forbidden_import(tmp_path: Path) -> None:
    bad = tmp_path / "bad.py"
    bad.write_text("from points.ledger import transfer\nimport litestar\n", encoding="utf-8")
    assert ("points.ledger", ("transfer",)) in _imports(bad)
    assert ("litestar", ()) in _imports(bad)
