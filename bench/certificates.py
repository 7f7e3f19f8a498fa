"""Certificates (志愿服务记录证明, issue 16): 1,000 certificates issued and rendered, target < 60 s.

A database of its own (the big data set is not needed): one community, 1,000 volunteers with
:data:`RECORDS` service records each. Each certificate is what the service does for one request:
issue it in a unit of work (load the records, digest them, write the row), load it back with
the seal in a read, and render the PDF (ReportLab, the CJK font subsetted in, the QR code). The
ceiling is the render alone of the same certificates (no database): what the PDF costs.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable

import marketplace as mk
import points
from bench import machine
from bench.options import Options
from bench.results import Row, median
from points import Database
from service import certificate_pdf, cjk_font

CERTIFICATES = 1_000
RECORDS = 12  # per volunteer: a year of monthly service, more than a page lists by name
START = dt.datetime(2026, 1, 5, 1, 0, tzinfo=dt.UTC)
URL = "https://linli.example.cn"


def prepare(db: Database) -> None:
    sys = mk.SYSTEM
    with db.transaction() as tx:
        mk.create_org(tx, sys, id="d1", kind=mk.OrgKind.DISTRICT, name="幸福区", now=START)
        mk.create_org(tx, sys, id="s1", kind=mk.OrgKind.STREET, name="和平街道", parent_id="d1",
                      now=START)  # fmt: skip
        mk.create_org(tx, sys, id="c1", kind=mk.OrgKind.COMMUNITY, name="阳光社区",
                      parent_id="s1", now=START)  # fmt: skip
        for n in range(CERTIFICATES):
            member = f"v{n:04d}"
            mk.add_member(tx, id=member, name=f"志愿者{n:04d}", now=START)
            mk.grant_role(tx, sys, member, "c1", mk.Role.VOLUNTEER, now=START)
            for month in range(RECORDS):
                category = ("助老陪护", "环境整治")[month % 2]
                points.record_service(
                    tx, community_id="c1", member_id=member, category=category,
                    minutes=60 + (n + month) % 120, served_on=dt.date(2026, month + 1, 10),
                    reference=f"event:{member}:{month}", actor=sys,
                    memo=f"{month + 1}月社区志愿活动", now=START,
                )  # fmt: skip


def _issue_and_render(db: Database, members: list[str], font: str) -> tuple[float, float]:
    """Wall-clock seconds, and this process's CPU seconds (on PostgreSQL without the server's)."""
    start, cpu = time.perf_counter(), time.process_time()
    for member in members:
        with db.transaction() as tx:
            made = mk.certificates.issue(tx, mk.SYSTEM, "c1", member, until=dt.date(2026, 12, 31))
        with db.snapshot() as tx:
            again = mk.certificates.certificate(tx, mk.SYSTEM, made.number)
            seal = mk.issuers.seal_image(tx, "c1") if again.has_seal else None
        pdf = certificate_pdf.render(
            again, verify=certificate_pdf.verify_url(URL, again.number), seal=seal,
            font_setting=font,
        )  # fmt: skip
        assert pdf.startswith(b"%PDF-")
    return time.perf_counter() - start, time.process_time() - cpu


def _render_only(certs: list[mk.certificates.Certificate], font: str) -> float:
    start = time.perf_counter()
    for cert in certs:
        certificate_pdf.render(
            cert, verify=certificate_pdf.verify_url(URL, cert.number), font_setting=font
        )
    return time.perf_counter() - start


def run(opts: Options, db: Database, backend: str, say: Callable[[str], None]) -> list[Row]:
    label = "SQLite" if backend == "sqlite" else "PostgreSQL"
    font = ""
    cjk_font.font(font)  # registered once per process, as in the service
    members = [f"v{n:04d}" for n in range(CERTIFICATES)]
    totals, renders, cpus = [], [], []
    for _ in range(opts.rounds):
        wall, cpu = _issue_and_render(db, members, font)
        totals.append(wall)
        cpus.append(cpu)
        with db.snapshot() as tx:
            certs = list(mk.certificates.issued(tx, mk.SYSTEM, community_id="c1")[:200])
        renders.append(_render_only(certs, font) * CERTIFICATES / len(certs))
        say(f"  {CERTIFICATES:,} certificates: {totals[-1]:.1f} s issued and rendered "
            f"({cpus[-1]:.1f} s CPU), {renders[-1]:.1f} s rendering alone; "
            f"load {machine.load()}")  # fmt: skip
    product = median(totals)
    return [
        Row(group="certificates", name=f"{CERTIFICATES:,} certificates issued + PDF ({label})",
            unit="s", ceiling_name="render alone", ceiling=median(renders), product=product,
            rounds=opts.rounds, load=machine.load(), target="< 60 s", met=product < 60,
            note=f"{RECORDS} records each; one unit to issue, one read, the PDF "
            f"(ReportLab, TrueType CJK font subsetted, QR code); {median(cpus):.1f} s of this "
            "process's CPU (the wall time counts the other processes' load)")
    ]  # fmt: skip
