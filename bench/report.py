"""The table: printed, and kept in docs/performance.md between two markers (a new run replaces
the previous run's section; the figures below it, from the correctness tests, stay)."""

from __future__ import annotations

import math
from pathlib import Path

from bench.results import Row

START, END = "<!-- bench:start -->", "<!-- bench:end -->"


def _num(value: float | None, unit: str = "") -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    if unit in ("ms", "s") or abs(value) < 100:
        return f"{value:,.1f}"
    return f"{value:,.0f}"


def _verdict(row: Row) -> str:
    if row.met is None:
        return ""
    return "met" if row.met else "**not met**"


def table(rows: list[Row]) -> str:
    lines = [
        "| benchmark | ceiling | ceiling | Linli | ratio | Linli p99 | errors | target | | load |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | --- | --- | --- |",
    ]
    for r in rows:
        ratio = f"{r.ratio:.1%}" if r.ratio is not None else "–"
        p99 = f"{r.p99_ms:,.1f} ms" if r.p99_ms is not None and not math.isnan(r.p99_ms) else "–"
        product = f"{_num(r.product, r.unit)} {r.unit}"
        ceiling = f"{_num(r.ceiling, r.unit)} {r.unit}" if r.ceiling is not None else "–"
        lines.append(
            f"| {r.name} | {r.ceiling_name or '–'} | {ceiling} | {product} | {ratio} | {p99} | "
            f"{r.errors} | {r.target or '–'} | {_verdict(r)} | {r.load} |"
        )
    notes = [f"- {r.name}: {r.note}" for r in rows if r.note]
    return "\n".join(lines + (["", *notes] if notes else []))


def section(rows: list[Row], machine: dict[str, str], options: str, runtime: str) -> str:
    versions = ", ".join(
        f"{k} {v}"
        for k, v in machine.items()
        if k not in ("date", "cpus", "cpu", "memory", "load", "load_end")
    )
    met = [r for r in rows if r.met is True]
    unmet = [r for r in rows if r.met is False]
    return "\n".join(
        [
            START,
            f"## {machine['date']} — `make bench`",
            "",
            f"Machine: {machine['cpus']} × {machine['cpu']}, {machine['memory']}; load average "
            f"(1/5/15 min) {machine['load']} at the start, {machine.get('load_end', '?')} at "
            f"the end. {versions}.",
            "",
            f"Run: {options}; took {runtime}. Medians over the rounds; ceiling and Linli "
            "alternate within each round; ratio = Linli / ceiling.",
            "",
            table(rows),
            "",
            f"Targets met: {len(met)} of {len(met) + len(unmet)}.",
            END,
        ]
    )


def write_docs(path: Path, text: str) -> None:
    """Replace the previous run's section, or put the first one after the page's introduction."""
    old = path.read_text(encoding="utf-8") if path.exists() else "# Performance\n"
    if START in old and END in old:
        head, rest = old.split(START, 1)
        _, tail = rest.split(END, 1)
        new = head + text + tail
    else:
        marker = "\n## "
        at = old.find(marker)
        new = (
            old.rstrip("\n") + "\n\n" + text + "\n"
            if at < 0
            else old[: at + 1] + text + "\n\n" + old[at + 1 :]
        )
    path.write_text(new, encoding="utf-8")
