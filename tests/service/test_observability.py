"""The access log and the metrics record the status the client got.

Errors raised by middleware (a refused sign-in, a failed CSRF check) used to pass through the
access log and the metrics unanswered and were written as 500 and not counted; an unknown path's
404 was not logged at all.
"""

from __future__ import annotations

import re

import service_world as sw
from service import auth


def _counted(metrics: str, path: str, status: int) -> float:
    total = 0.0
    for line in metrics.splitlines():
        labels = f'path="{path}",status_code="{status}"'
        if line.startswith("litestar_requests_total{") and labels in line:
            total += float(line.rsplit(" ", 1)[1])
    return total


async def test_access_log_and_metrics_record_the_status_sent(backend_ready: str) -> None:
    async with sw.running(backend_ready, access_log=True, log_level="INFO") as svc:
        c = svc.client
        before = (await c.get("/metrics")).text  # the registry is the process's: count anew
        with sw.service_log() as log:
            unauthenticated = await c.get("/api/v1/me")
            assert unauthenticated.status_code == 401
            redirected = await c.get("/me")
            assert redirected.status_code == 303
            c.cookies.set(auth.TOKEN_COOKIE, svc.token("res"), domain="linli.test")
            forged = await c.put("/api/v1/me/profile", json={"public_profile": True})
            assert forged.status_code == 403
            unknown = await c.get("/no/such/page")
            assert unknown.status_code == 404
            fine = await c.get("/api/v1/me", headers=svc.as_("vol1"))
            assert fine.status_code == 200
        seen = [(a["method"], a["path"], a["status"]) for a in log.access()]
        assert seen == [
            ("GET", "/api/v1/me", 401),
            ("GET", "/me", 303),
            ("PUT", "/api/v1/me/profile", 403),
            ("GET", "/no/such/page", 404),
            ("GET", "/api/v1/me", 200),
        ]
        assert all(re.fullmatch(r"[0-9a-f]{32}", a["request_id"]) for a in log.access())
        after = (await c.get("/metrics")).text
        for path, status in [("/api/v1/me", 401), ("/me", 303), ("/api/v1/me/profile", 403),
                             ("/api/v1/me", 200)]:  # fmt: skip
            assert _counted(after, path, status) - _counted(before, path, status) == 1
        assert 'status_code="500"' not in after


async def test_every_response_carries_the_security_headers(backend_ready: str) -> None:
    async with sw.running(backend_ready) as svc:
        c = svc.client
        for answer in (
            await c.get("/api/v1/me", headers=svc.as_("res")),
            await c.get("/api/v1/me"),  # 401, answered by the middleware
            await c.get("/no/such/page"),
            await c.get("/login"),
            await c.get("/me"),  # the redirect to the sign-in page
            await c.get("/static/linli.css"),
            await c.get("/schema/"),
        ):
            where = answer.request.url.path
            assert answer.headers["x-content-type-options"] == "nosniff", where
            assert answer.headers["x-frame-options"] == "DENY", where
            assert answer.headers["referrer-policy"] == "same-origin", where
            policy = answer.headers["content-security-policy"]
            assert "frame-ancestors 'none'" in policy, where
            if where != "/schema/":  # Swagger UI writes inline script; nothing else may
                assert "script-src 'self';" in policy, where
                assert "unsafe-inline" not in policy, where
