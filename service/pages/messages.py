"""消息中心 and 通知设置: the bell's unread count, a member's messages (mark read), their notice
settings; and the office's page of the community's webhooks and dead letters (通知管理).

The messages are the member's rows of the outbox (:func:`marketplace.inbox`), across every
community they act in; the bell's number is fetched by the page after it loads (htmx), so no
page pays a statement for it.
"""

from __future__ import annotations

from typing import Annotated, Any

import msgspec
from litestar import Request, Response, get, post
from litestar.params import QueryParameter
from litestar.response import Template

import marketplace as mk
from service.api.common import MEMBER, Now, Tx
from service.pages.common import PathId, See, Viewer, done, handle, page, render
from service.pages.forms import Fields, Form, Invalid

Before = Annotated[str | None, QueryParameter(max_length=64, required=False)]


class PrefsForm(Fields, frozen=True, kw_only=True):
    sms: str = ""  # a checkbox: "1" when ticked
    webhook: str = ""
    quiet_from: Annotated[str, msgspec.Meta(max_length=5)] = "22:00"
    quiet_to: Annotated[str, msgspec.Meta(max_length=5)] = "07:00"


class WebhookForm(Fields, frozen=True, kw_only=True):
    url: Annotated[str, msgspec.Meta(max_length=500)]
    secret: Annotated[str, msgspec.Meta(max_length=200)]
    own_system: str = ""


def _minute(field: str, text: str) -> int:
    hours, _, minutes = text.partition(":")
    if not (hours.isdigit() and minutes.isdigit() and int(hours) < 24 and int(minutes) < 60):
        raise Invalid({field: "请填写时间，如 22:00"})
    return int(hours) * 60 + int(minutes)


def _clock(minute: int) -> str:
    return f"{minute // 60:02d}:{minute % 60:02d}"


def _messages(request: Request[Any, Any, Any], tx: Tx, viewer: Viewer, before: str | None) -> Any:
    found = mk.inbox(tx, viewer.id, limit=21, before=before)
    prefs = mk.notice_prefs_of(tx, viewer.id)
    return render(
        request,
        "messages.html",
        viewer,
        messages=found[:20],
        more=found[19].id if len(found) > 20 else None,
        unread=sum(1 for m in found if not m.read),
        prefs=prefs,
        quiet=(_clock(prefs.quiet_from), _clock(prefs.quiet_to)),
    )


@get("/messages", opt=MEMBER)
@page.read
def messages(request: Request[Any, Any, Any], tx: Tx, viewer: See, before: Before = None) -> Any:
    """消息中心: the member's messages, newest first, unread marked."""
    return _messages(request, tx, viewer, before)


@get("/messages/count", opt=MEMBER)
@page.read
def bell(tx: Tx, viewer: See) -> Response[str]:
    """The bell's number (an htmx fragment)."""
    count = mk.unread(tx, viewer.id)
    badge = f'<span class="badge" aria-label="{count} 条未读">{count}</span>' if count else ""
    return Response(badge, media_type="text/html")


@post("/messages/read", opt=MEMBER)
@page.write
def read(request: Request[Any, Any, Any], tx: Tx, now: Now, viewer: See, form: Form) -> Any:
    """Mark read: the messages named (``id``), or all."""

    def do() -> Response[Any]:
        ids = form.getall("id")
        count = mk.mark_read(tx, viewer.id, ids or None, now=now)
        return done("/messages", f"已标为已读（{count} 条）" if count else "没有未读消息")

    return handle(request, viewer, form, do, back="/messages")


@post("/messages/settings", opt=MEMBER)
@page.write
def settings(request: Request[Any, Any, Any], tx: Tx, now: Now, viewer: See, form: Form) -> Any:
    """通知设置: opt-outs per channel, SMS quiet hours."""

    def do() -> Response[Any]:
        data = form.parse(PrefsForm)
        prefs = mk.NoticePrefs(
            sms=data.sms == "1",
            webhook=data.webhook == "1",
            quiet_from=_minute("quiet_from", data.quiet_from),
            quiet_to=_minute("quiet_to", data.quiet_to),
        )
        mk.set_notice_prefs(tx, viewer.id, prefs, now=now)
        return done("/messages", "通知设置已保存")

    return handle(
        request,
        viewer,
        form,
        do,
        back="/messages",
        show=lambda tx: _messages(request, tx, viewer, None),
    )


def _notices(request: Request[Any, Any, Any], tx: Tx, viewer: Viewer) -> Template:
    community_id = viewer.community()
    hooks = mk.list_webhooks(tx, viewer.id, community_id)
    dead = mk.dead_letters(tx, viewer.id, community_id, limit=50)
    return render(request, "notices.html", viewer, hooks=hooks, dead=dead)


@get("/staff/notices", opt=MEMBER)
@page.read
def notices(request: Request[Any, Any, Any], tx: Tx, viewer: See) -> Template:
    """通知管理: the community's webhooks and dead letters."""
    return _notices(request, tx, viewer)


@post("/staff/notices/webhooks", opt=MEMBER)
@page.write
def add_webhook(request: Request[Any, Any, Any], tx: Tx, now: Now, viewer: See, form: Form) -> Any:
    def do() -> Response[Any]:
        data = form.parse(WebhookForm)
        mk.add_webhook(tx, viewer.id, viewer.community(), data.url.strip(), data.secret,
                       own_system=data.own_system == "1", now=now)  # fmt: skip
        return done("/staff/notices", "已添加 Webhook")

    return handle(
        request,
        viewer,
        form,
        do,
        back="/staff/notices",
        show=lambda tx: _notices(request, tx, viewer),
    )


@post("/staff/notices/webhooks/{webhook_id:str}/remove", opt=MEMBER)
@page.write
def remove_webhook(
    request: Request[Any, Any, Any], tx: Tx, viewer: See, webhook_id: PathId, form: Form
) -> Any:
    def do() -> Response[Any]:
        mk.remove_webhook(tx, viewer.id, viewer.community(), webhook_id)
        return done("/staff/notices", "已停用该 Webhook")

    return handle(request, viewer, form, do, ask="确定停用这个 Webhook 吗？", back="/staff/notices")


@post("/staff/notices/retry", opt=MEMBER)
@page.write
def retry(request: Request[Any, Any, Any], tx: Tx, now: Now, viewer: See, form: Form) -> Any:
    """Send dead letters again: the ones named (``id``), or all."""

    def do() -> Response[Any]:
        ids = form.getall("id")
        count = mk.retry(tx, viewer.id, viewer.community(), ids or None, now=now)
        return done("/staff/notices", f"已重新投递 {count} 条")

    return handle(request, viewer, form, do, ask="确定重新投递吗？", back="/staff/notices")


ROUTES = [messages, bell, read, settings, notices, add_webhook, remove_webhook, retry]
