"""The web pages over the real app in-process: people sign in through the sign-in form and keep
their cookies (session and CSRF) in their own client, as a browser would; and readers of what a
page shows (the flash message, the error next to a field, the confirmation code)."""

from __future__ import annotations

import re
from html import unescape
from typing import Any

import httpx

import service_world as sw
from service_world import Service


class Person:
    """One signed-in browser: its own cookies, and the CSRF token they carry."""

    def __init__(self, client: httpx.AsyncClient) -> None:
        self.client = client

    @property
    def csrf(self) -> str:
        return self.client.cookies.get("linli_csrf") or ""

    async def get(self, path: str, **kwargs: Any) -> httpx.Response:
        return await self.client.get(path, **kwargs)

    async def post(
        self, path: str, data: dict[str, Any] | None = None, *, confirmed: bool = True
    ) -> httpx.Response:
        """A form POST with the CSRF field (and the confirmation answered, unless not)."""
        form = {"_csrf_token": self.csrf, **(data or {})}
        if confirmed:
            form["confirmed"] = "1"
        return await self.client.post(path, data=form)


class Site:
    def __init__(self, svc: Service) -> None:
        self.svc = svc
        self.transport = httpx.ASGITransport(app=svc.app)
        self.clients: list[httpx.AsyncClient] = []

    def browser(self) -> httpx.AsyncClient:
        client = httpx.AsyncClient(transport=self.transport, base_url="http://linli.test")
        self.clients.append(client)
        return client

    async def person(self, name: str, *, sign_in: bool = False) -> Person:
        """``name`` in a browser of their own: signed in through the form (``sign_in``), or
        with the cookie the form would set (argon2 is slow on purpose; most tests skip it)."""
        client = self.browser()
        if not sign_in:
            client.cookies.set("linli_token", self.svc.token(name), domain="linli.test")
            await client.get("/me")  # a page: the CSRF cookie of this session
            return Person(client)
        await client.get("/login")
        answer = await client.post(
            "/login",
            data={
                "phone": sw.PHONES[name],
                "password": sw.PASSWORD,
                "_csrf_token": client.cookies.get("linli_csrf") or "",
            },
        )
        assert answer.status_code == 303, answer.text
        assert "linli_token" in client.cookies
        return Person(client)

    async def close(self) -> None:
        for client in self.clients:
            await client.aclose()


def flash(page: httpx.Response) -> str:
    found = re.search(r'<p class="flash[^"]*"[^>]*>([^<]*)</p>', page.text)
    return unescape(found.group(1)) if found else ""


def field_error(page: httpx.Response, name: str) -> str:
    """The Chinese reason shown next to the input ``name`` (empty when none)."""
    found = re.search(rf'<p class="error" id="{re.escape(name)}-error">([^<]*)</p>', page.text)
    return unescape(found.group(1)) if found else ""


def code_of(page: httpx.Response) -> str:
    found = re.search(r'data-testid="confirmation-code">(\d{6})<', page.text)
    assert found, "no confirmation code on the page"
    return found.group(1)
