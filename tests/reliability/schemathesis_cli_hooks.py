"""Schemathesis hooks for the command-line run (loaded by ``hooks = ...`` in its config file).

Three things the config file cannot say:

- Which refusals of schema-valid data are the API's own. The command line leaves schemathesis'
  ``positive_data_acceptance`` out and this module registers the same check less the rules no
  JSON Schema can state (``fuzz_world.schema_valid_data_is_accepted``), the one the in-process
  run uses, so both runs hold the server to one rule.

- Idempotency keys. A generated key is ``"0"`` or ``"00"`` again and again, and a key sent again
  with another request is rightly refused (422), so most generated writes would never reach their
  handler. Three of every four valid generated keys are swapped for fresh ones; the fourth stays,
  so reuse (422) and replay (the stored response) are still tried. Invalid keys stay invalid.
- Ids in the coverage phase. Its cases are boundary values (``"0"``, 64 zeros) that name nothing;
  three of every four path ids of a valid path are swapped for ids of the seeded world (read from
  the JSON file ``LINLI_FUZZ_IDS`` names), as the dictionaries of the config file do in the other
  phases.

Counters, not random draws: with the run's fixed seed the same requests go out every time.
"""

from __future__ import annotations

import base64
import itertools
import json
import os
import re
from pathlib import Path
from typing import Any

import schemathesis
from schemathesis.core.parameters import ParameterLocation
from schemathesis.generation.meta import TestPhase

import fuzz_world

KEY = re.compile(r"^[\x21-\x7e]{1,255}$")  # service.idempotency.KEY
IDS: dict[str, list[str]] = json.loads(Path(os.environ["LINLI_FUZZ_IDS"]).read_text("utf-8"))
ROLE = os.environ["LINLI_FUZZ_ROLE"]  # the member the run signs in as
LEAVER = os.environ["LINLI_FUZZ_LEAVER_TOKEN"]  # whom /me/deletion deletes instead
DELETION = "POST /api/v1/me/deletion"
_keys = itertools.count()
_ids = itertools.count()

schemathesis.check(fuzz_world.schema_valid_data_is_accepted)


@schemathesis.hook
def before_call(context: Any, case: schemathesis.Case, kwargs: dict[str, Any]) -> None:
    headers = case.headers or {}
    if case.operation.label == DELETION and _signed_in_as(headers, ROLE):
        headers["Authorization"] = f"Bearer {LEAVER}"
    key = headers.get("Idempotency-Key")
    if isinstance(key, str) and KEY.fullmatch(key) and (n := next(_keys)) % 4:
        headers["Idempotency-Key"] = f"cli-{ROLE}-{n}"
    meta = case.meta
    if meta is None or meta.phase.name != TestPhase.COVERAGE:
        return
    if meta.is_negative_at(ParameterLocation.PATH) or not case.path_parameters:
        return
    for name in sorted(case.path_parameters):
        choices = IDS.get(name)
        if choices and (n := next(_ids)) % 4:
            case.path_parameters[name] = choices[n % len(choices)]


def _signed_in_as(headers: dict[str, Any], member: str) -> bool:
    """Whether the request carries the run's own token (not a probe's missing or forged one)."""
    scheme, _, token = str(headers.get("Authorization", "")).partition(" ")
    parts = token.split(".")
    if scheme != "Bearer" or len(parts) != 3:
        return False
    try:
        claims = json.loads(base64.urlsafe_b64decode(parts[1] + "=" * (-len(parts[1]) % 4)))
    except ValueError:
        return False
    return isinstance(claims, dict) and claims.get("sub") == member
