"""Roster import (花名册导入, issue 15), in process: a workbook of 10,000 members (XLSX, every
column filled as a community's file is: grid, building, room, roles, skills, a paired unit, some key
households with their consent) imported into a fresh community, then the same file again (every
row matched on its phone, nothing written). Target: the first import in < 30 s on SQLite."""

from __future__ import annotations

import io
import random
import time
from collections.abc import Callable

import openpyxl

import marketplace as mk
from bench import machine
from bench.options import Options
from bench.results import Row
from marketplace import OrgKind
from marketplace.roster import COLUMNS
from points import Database

GRIDS, BUILDINGS = 20, 10  # per community; per grid
TARGET_S = 30.0


def _community(db: Database, tag: str) -> str:
    """A community with grids, buildings and a paired unit, beside the data set's."""
    system = mk.SYSTEM
    community = f"roster-{tag}"
    with db.transaction() as tx:
        mk.create_org(tx, system, id=f"{community}-d", kind=OrgKind.DISTRICT, name="花名册区")
        mk.create_org(tx, system, id=f"{community}-s", kind=OrgKind.STREET, name="花名册街道",
                      parent_id=f"{community}-d")  # fmt: skip
        mk.create_org(tx, system, id=community, kind=OrgKind.COMMUNITY, name="花名册社区",
                      parent_id=f"{community}-s")  # fmt: skip
        for g in range(GRIDS):
            grid = f"{community}-g{g}"
            mk.create_org(tx, system, id=grid, kind=OrgKind.GRID, name=f"第{g + 1}网格",
                          parent_id=community)  # fmt: skip
            for b in range(BUILDINGS):
                mk.create_org(tx, system, id=f"{grid}-b{b}", kind=OrgKind.BUILDING,
                              name=f"{b + 1}号楼", parent_id=grid)  # fmt: skip
        mk.create_org(tx, system, id=f"{community}-u", kind=OrgKind.UNIT, name="区卫健局")
        mk.pair_unit(tx, system, f"{community}-u", community)
    return community


def workbook(rows: int, seed: int, phone_base: int) -> bytes:
    """A filled roster of ``rows`` members, as an office's Excel file."""
    rng = random.Random(seed)
    book = openpyxl.Workbook(write_only=True)
    sheet = book.create_sheet("花名册")
    sheet.append([c.header for c in COLUMNS])
    roles = ["居民", "志愿者", "志愿者、党员", "居民、志愿者", "网格员"]
    skills = ["维修", "理发", "辅导", "陪护", "电脑", "法律", "烹饪", "驾驶"]
    for n in range(rows):
        key = rng.random() < 0.05
        sheet.append([
            f"居民{n}", str(phone_base + n), f"第{rng.randrange(GRIDS) + 1}网格",
            f"{rng.randrange(BUILDINGS) + 1}号楼", str(100 + rng.randrange(1800)),
            rng.choice(roles), "、".join(rng.sample(skills, rng.randrange(4))),
            "区卫健局" if rng.random() < 0.1 else "", "独居老人" if key else "",
            f"TY-{n}" if key else "", f"幸福路{n}号", "周六上午" if rng.random() < 0.3 else "",
        ])  # fmt: skip
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def run(opts: Options, db: Database, backend: str, say: Callable[[str], None]) -> list[Row]:
    label = "SQLite" if backend == "sqlite" else "PostgreSQL"
    n = opts.roster_rows
    community = _community(db, str(opts.seed))
    content = workbook(n, opts.seed, 16_000_000_000)
    start = time.perf_counter()
    with db.transaction() as tx:
        first = mk.import_roster(tx, mk.SYSTEM, community, content)
    seconds = time.perf_counter() - start
    assert first.written, first.problems[:5]
    assert len(first.created) == n
    start = time.perf_counter()
    with db.transaction() as tx:
        again = mk.import_roster(tx, mk.SYSTEM, community, content)
    again_s = time.perf_counter() - start
    assert again.unchanged == n
    assert not again.created
    assert not again.updated
    start = time.perf_counter()
    mk.sheets.read_sheet(content)
    read_s = time.perf_counter() - start
    say(f"  roster: {n:,} rows imported in {seconds:.1f} s, again in {again_s:.1f} s "
        f"(reading the workbook {read_s:.1f} s)  load {machine.load()}")  # fmt: skip
    size = len(content) / 2**20
    return [
        Row(group="roster", name=f"roster import, {n:,} new members ({label})", unit="s",
            product=seconds, rounds=1, load=machine.load(),
            target=f"< {TARGET_S:g} s" if backend == "sqlite" else "",
            met=seconds < TARGET_S if backend == "sqlite" else None,
            note=f"XLSX of {size:.1f} MiB, 12 columns; reading it: {read_s:.1f} s"),
        Row(group="roster", name=f"roster import again, {n:,} unchanged ({label})", unit="s",
            product=again_s, rounds=1, load=machine.load(),
            note="every row matched on its phone; nothing written"),
    ]  # fmt: skip
