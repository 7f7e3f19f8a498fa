"""``GET /api/v1/orgs/{org_id}/exports/{kind}``: the file streamed to office of the area, on both
backends; everyone else 404; bad input a problem+json 4xx naming the field, never a 500."""

from __future__ import annotations

import csv
import io

import openpyxl
import pytest

from service_world import Service

API = "/api/v1/orgs/{org}/exports/{kind}"


async def test_office_downloads_an_export_and_the_counts_ride_in_headers(svc: Service) -> None:
    answer = await svc.client.get(
        API.format(org="c1", kind="members"),
        params={"period": "2026-Q4", "format": "csv"},
        headers=svc.as_("staff"),
    )
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(answer.content.decode("utf-8-sig"))))
    assert rows[0][:2] == ["成员编号", "姓名"]
    assert answer.headers["x-linli-rows"] == str(len(rows) - 1)
    street = await svc.client.get(
        API.format(org="s1", kind="rates"), params={"period": "30d"}, headers=svc.as_("admin")
    )
    assert street.status_code == 200
    sheet = openpyxl.load_workbook(io.BytesIO(street.content)).worksheets[0]
    assert [r[0] for r in sheet.iter_rows(values_only=True)][:3] == ["名称", "阳光社区", "月亮社区"]


@pytest.mark.parametrize(
    ("who", "org", "kind", "params", "status", "field"),
    [
        ("vol1", "c1", "members", {"period": "2026"}, 404, None),
        ("staff", "c2", "members", {"period": "2026"}, 404, None),
        ("staff", "c1", "salaries", {"period": "2026"}, 422, "kind"),
        ("staff", "c1", "members", {"period": "2026-13"}, 422, "period"),
        ("staff", "c1", "members", {"period": "2026-03..2026-01"}, 422, "period"),
        ("staff", "c1", "members", {"period": "2000..2026"}, 422, "period"),
        ("staff", "c1", "members", {"period": "2026", "format": "pdf"}, 422, "format"),
        ("staff", "g1", "members", {"period": "2026"}, 422, "org_id"),
    ],
)
async def test_refusals_are_problems(
    svc: Service,
    who: str,
    org: str,
    kind: str,
    params: dict[str, str],
    status: int,
    field: str | None,
) -> None:
    answer = await svc.client.get(
        API.format(org=org, kind=kind), params=params, headers=svc.as_(who)
    )
    assert answer.status_code == status, answer.text
    assert answer.headers["content-type"].startswith("application/problem+json")
    if field is not None:
        assert answer.json()["field"] == field


async def test_signed_out_is_401(svc: Service) -> None:
    answer = await svc.client.get(API.format(org="c1", kind="members"), params={"period": "2026"})
    assert answer.status_code == 401
