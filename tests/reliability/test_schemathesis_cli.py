"""Schemathesis from its command line against a real ``linli serve`` over loopback, per role.

The seeded world of ``fuzz_world`` (the district, everyone with a password, and wishes, claims,
transfers, items, orders and an offer) is copied once per role, and a ``linli serve`` process
serves each copy on a port of its own, so the runs go side by side and none changes what
another finds. ``schemathesis run http://127.0.0.1:PORT/schema/openapi.json`` then runs every
phase (examples, coverage, fuzzing, stateful) with every check, signed in as staff (and, under
``make soak``, as a volunteer and as a resident too: see ``ROLES``): its dynamic auth signs in
through ``POST /api/v1/auth/token`` (the server's own secret signs the token) and signs in again
when a generated ``/auth/logout`` ends the token. The seed is fixed and the examples bounded, so
CI sends the same requests each time. The stateful phase follows the links schemathesis infers
from the document (responses' ids into the parameters of the same name), so no links are
written by hand.

A generated config file per role carries what the command line cannot: the sign-in, dictionaries
of the seeded ids for path, query and body fields of the same name (so requests reach real
objects instead of always a 404), and the hooks of ``schemathesis_cli_hooks`` (fresh
Idempotency-Keys, seeded ids in the coverage phase, ``/me/deletion`` acting as a member of its
own). The JSON report is parsed: no failure of any check, in particular 0 server errors, 0
schema violations (status codes, content types, headers, bodies) and 0 ignored-auth findings;
afterwards the ledger audit of each copy is clean.

Every check runs; one is tuned. ``positive_data_acceptance`` demands that schema-valid data is
accepted; it takes 401, 403, 404, 409 and 429 as the API's own refusals. A 422 for schema-valid
data is the API's own only for a rule no JSON Schema can state (``fuzz_world.BEYOND_SCHEMA``: a
window's end after its start, ``until`` after ``since``, the old password, a pagination cursor
the list gave out, an id that must name stored data, an Idempotency-Key already used for another
request, a donation the community's policy refuses), so the command line leaves the check out and
the hooks register ``fuzz_world.schema_valid_data_is_accepted`` instead: the check of the in-process
run, so both hold the server to the same rule. A 400, any other 422 or a 5xx for schema-valid
data fails it, and ``negative_data_rejection`` holds in full (bodies and times are checked
strictly: see ``service.api.common.strict_input``).
``object_level_authorization`` runs but needs two named users of a WFC auth file to compare;
tenancy (another community's data) is held by tests/service/test_access.py instead.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import sqlalchemy as sa

import fuzz_world as fw
import processes
import service_world as sw
import support

ALL_ROLES = {"staff": 8, "vol1": 5, "res": 5}  # the member each run signs in as: its max examples
SOAK = os.environ.get("LINLI_SOAK") == "1"
ROLES = ALL_ROLES if SOAK else {"staff": ALL_ROLES["staff"]}
"""The suite runs staff, who reach the most operations (81 of 129 with a 2xx, against 50 and
40): the three runs took 161 s of wall time and 4.6 min of CPU on 2 cores, the suite's longest
test by far; ``make soak`` runs all three. tests/service/test_schemathesis.py fuzzes every
operation as each of the three in-process on every run."""
LEAVER = "res2"  # whom a generated /me/deletion deletes, in each run's copy
SEED = 20_261_126
SECRET = "schemathesis-cli-secret-" + "s" * 40
HOOKS = Path(__file__).with_name("schemathesis_cli_hooks.py")
SCHEMATHESIS = Path(os.environ.get("VIRTUAL_ENV", "")) / "bin" / "schemathesis"
PHASES = "examples,coverage,fuzzing,stateful"
REFUSALS = ["2xx", 401, 403, 404, 409, 429]  # positive data: see the module docstring
SERVER_ERRORS = {"ST101", "ST102"}  # a 5xx; a 5xx with a content type not documented
IGNORED_AUTH = {"ST401"}


@dataclass
class Run:
    role: str
    base: str
    url: str  # the role's copy of the world
    out: Path  # its reports, config and logs
    process: subprocess.Popen[bytes] | None = None
    started: float = 0.0
    seconds: float = 0.0


def _schemathesis() -> str:
    found = Path(processes.linli()).with_name("schemathesis")
    return str(found if found.exists() else SCHEMATHESIS)


def _toml(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False)  # a JSON string or list is a TOML one too


def _config(role: str, ids: dict[str, list[str]]) -> str:
    """The run's schemathesis.toml: hooks, the role's sign-in, the seeded ids, one tuned check."""
    lines = [
        f"hooks = {_toml(HOOKS.stem)}",
        "",
        "[auth.dynamic.openapi.BearerToken]",
        'path = "/api/v1/auth/token"',
        'method = "post"',
        f"payload = {{ phone = {_toml(sw.PHONES[role])}, password = {_toml(sw.PASSWORD)} }}",
        'extract_selector = "/access_token"',
        "",
        "[checks.positive_data_acceptance]",  # read by schema_valid_data_is_accepted
        f"expected-statuses = {_toml(REFUSALS)}",
        "",
        "[dictionaries]",
    ]
    named = {name: sorted(set(values)) for name, values in ids.items() if name != "role"}
    lines += [f"{name} = {{ values = {_toml(values)} }}" for name, values in named.items()]
    lines += ["", "[parameters]"]
    for name in named:  # most path ids name real objects, half of the query and body ones
        for where, chance in (("path", 0.75), ("query", 0.5), ("body", 0.5)):
            lines.append(f'"{where}.{name}" = {{ dictionary = "{name}", probability = {chance} }}')
    return "\n".join(lines) + "\n"


def _serve(run: Run) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "LINLI_DATABASE_URL": run.url,
        "LINLI_SECRET_KEY": SECRET,
        "LINLI_SWEEP_SECONDS": "0",  # the generated requests alone change the world
        "LINLI_ACCESS_LOG": "0",
        "LINLI_LOG_LEVEL": "WARNING",
        "LINLI_RATE_LIMIT_PER_MINUTE": "10000000",  # a fuzzer sends more than any client
        "LINLI_LOGIN_ATTEMPTS_PER_ADDRESS": "100000",  # its failed sign-ins all come from here
    }
    env.pop("LINLI_REDIS_URL", None)
    return processes.serve(int(run.base.rsplit(":", 1)[1]), env, run.out / "serve.log")


def _start(run: Run, ids_file: Path) -> None:
    config = run.out / "schemathesis.toml"
    config.write_text(_config(run.role, json.loads(ids_file.read_text("utf-8"))), "utf-8")
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(  # the hooks, and fuzz_world they import
            [str(HOOKS.parent), str(HOOKS.parent.parent), os.environ.get("PYTHONPATH", "")]
        ),
        "LINLI_FUZZ_IDS": str(ids_file),
        "LINLI_FUZZ_ROLE": run.role,
        "LINLI_FUZZ_LEAVER_TOKEN": processes.sign_in(run.base, LEAVER),
    }
    command = [
        _schemathesis(),
        "--config-file",
        str(config),
        "run",
        f"{run.base}/schema/openapi.json",
        f"--phases={PHASES}",
        "--checks=all",
        "--exclude-checks=positive_data_acceptance",  # the hooks' schema_valid_data_is_accepted
        f"--seed={SEED}",
        f"--max-examples={ROLES[run.role]}",
        "--workers=1",  # one at a time: the same requests in the same order every time
        "--report=json,ndjson",
        f"--report-dir={run.out}",
        "--no-color",
        "--request-timeout=30",
    ]
    run.started = time.perf_counter()
    with (run.out / "schemathesis.log").open("wb") as log:
        run.process = subprocess.Popen(
            command, env=env, cwd=run.out, stdout=log, stderr=subprocess.STDOUT
        )


def _report(run: Run) -> dict[str, Any]:
    found = sorted(run.out.glob("json-*.json"))
    log = (run.out / "schemathesis.log").read_text("utf-8", "replace")
    assert found, f"{run.role}: no JSON report\n{log[-5000:]}"
    report: dict[str, Any] = json.loads(found[-1].read_text("utf-8"))
    return report


def _answered(run: Run) -> Counter[str]:
    """Operations by how often they answered 2xx (from the NDJSON event stream)."""
    ok: Counter[str] = Counter()
    for path in run.out.glob("ndjson-*.ndjson"):
        with path.open(encoding="utf-8") as events:
            for line in events:
                finished = json.loads(line).get("ScenarioFinished")
                if finished is None:
                    continue
                cases = finished["recorder"].get("cases", {})
                for case_id, step in finished["recorder"].get("interactions", {}).items():
                    status = (step.get("response") or {}).get("status_code", 0)
                    case = cases.get(case_id, {}).get("value", {})
                    if 200 <= status < 300:
                        ok[f"{case.get('method')} {case.get('path')}"] += 1
    return ok


def _wait(runs: list[Run], deadline: float) -> None:
    """Until every run has ended (each one's time taken when it ends)."""
    while any(r.process is not None and r.process.poll() is None for r in runs):
        assert time.monotonic() < deadline, "schemathesis did not finish in time"
        time.sleep(0.2)
        for run in runs:
            if run.process is not None and run.process.poll() is not None and not run.seconds:
                run.seconds = time.perf_counter() - run.started
    for run in runs:
        run.seconds = run.seconds or time.perf_counter() - run.started


def test_schemathesis_command_line_finds_no_failure(tmp_path: Path) -> None:
    started = time.perf_counter()
    world = asyncio.run(fw.prepare())
    source = Path(str(sa.make_url(world.url).database))
    ids_file = tmp_path / "ids.json"
    ids_file.write_text(json.dumps(world.ids, ensure_ascii=False), "utf-8")
    runs = []
    for role in ROLES:
        out = tmp_path / role
        out.mkdir()
        support.copy_sqlite(source, out / "world.db")
        url = f"sqlite:///{out / 'world.db'}"
        runs.append(Run(role, f"http://127.0.0.1:{processes.free_port()}", url, out))
    servers: list[subprocess.Popen[bytes]] = []
    try:
        for run in runs:
            servers.append(_serve(run))
        for run, server in zip(runs, servers, strict=True):
            processes.wait_ready(run.base, server, run.out / "serve.log")
        for run in runs:
            _start(run, ids_file)
        _wait(runs, deadline=time.monotonic() + 600)
        for run, server in zip(runs, servers, strict=True):
            log = (run.out / "serve.log").read_text("utf-8", "replace")
            assert server.poll() is None, f"{run.role}: the server died\n{log[-5000:]}"
    finally:
        for run in runs:
            if run.process is not None and run.process.poll() is None:
                run.process.kill()
                run.process.wait(timeout=10)
        processes.stop(servers)

    failures: dict[str, list[str]] = {}
    totals: Counter[str] = Counter()
    for run in runs:
        report = _report(run)
        log = (run.out / "schemathesis.log").read_text("utf-8", "replace")
        codes = Counter({f["code"]: f["count"] for f in report["failures"]})
        server_errors = sum(n for c, n in codes.items() if c in SERVER_ERRORS)
        violations = sum(n for c, n in codes.items() if c.startswith("ST1")) - server_errors
        ignored_auth = sum(n for c, n in codes.items() if c in IGNORED_AUTH)
        answered = _answered(run)
        cases = report["test_cases"]["generated"]
        print(
            f"[schemathesis-cli] role={run.role} operations={report['operations']['tested']} "
            f"cases={cases} failures={sum(codes.values())} server_errors={server_errors} "
            f"schema_violations={violations} ignored_auth={ignored_auth} "
            f"errors={len(report['errors'])} operations_with_2xx={len(answered)} "
            f"reauthenticated={report['auth']['reauth_count']} seed={report['seed']} "
            f"seconds={run.seconds:.1f}"
        )
        totals.update(cases=cases, failures=sum(codes.values()))
        problems = fw.audit(run.url)
        if codes or report["errors"] or problems or not report["complete"]:
            failures[run.role] = [
                f"failures={dict(codes)} errors={report['errors']} audit={problems}",
                log[-8000:],
            ]
        assert report["operations"]["tested"] == report["operations"]["total"]
        assert report["seed"] == SEED
    print(
        f"[schemathesis-cli] roles={len(runs)} cases={totals['cases']} "
        f"failures={totals['failures']} seconds={time.perf_counter() - started:.1f}"
    )
    assert failures == {}, "\n\n".join(f"{r}: " + "\n".join(f) for r, f in failures.items())
