"""通知 in the API: my messages (消息中心) and notice settings; a community's webhooks and dead
letters (the office). The same library calls as the pages (:mod:`service.pages.messages`)."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

import msgspec
from litestar import Controller, delete, get, post, put
from litestar.params import JSONBody, PathParameter

import marketplace as mk
from service.api.common import (
    MEMBER,
    Cursor,
    Id,
    Input,
    Limit,
    Me,
    Now,
    Tx,
    issue_cursor,
    problems,
    read_cursor,
)
from service.api.wishes import Community
from service.text import text
from service.uow import api

WebhookId = Annotated[str, PathParameter(max_length=64)]
Ids = Annotated[list[Id], msgspec.Meta(max_length=200)]
Minute = Annotated[int, msgspec.Meta(ge=0, le=24 * 60 - 1, description="minute of the day")]


class MessageOut(msgspec.Struct, frozen=True, kw_only=True):
    community_id: str
    id: str
    type: str
    text: str  # the line in Chinese
    data: dict[str, Any]
    critical: bool
    created_at: dt.datetime
    read: bool


class MessagePage(msgspec.Struct, frozen=True, kw_only=True):
    items: list[MessageOut]
    next_cursor: str | None
    unread: int


class ReadIn(Input, frozen=True, kw_only=True):
    ids: Ids | None = None  # None: every message


class Count(msgspec.Struct, frozen=True, kw_only=True):
    count: int


class NoticePrefsIn(Input, frozen=True, kw_only=True):
    sms: bool = True
    webhook: bool = True
    quiet_from: Minute = 22 * 60
    quiet_to: Minute = 7 * 60


class WebhookIn(Input, frozen=True, kw_only=True):
    url: Annotated[str, msgspec.Meta(max_length=500, pattern=r"^https?://[!-~]+$")]
    secret: Annotated[str, text(16, 200)]
    own_system: bool = False  # the community's own system: may receive phone numbers


class MessagesController(Controller):
    path = "/me"
    tags = ["notices 通知"]
    opt = MEMBER

    @get("/messages", responses=problems(), summary="消息中心: my messages, newest first")
    @api.read
    def messages(self, tx: Tx, me: Me, cursor: Cursor = None, limit: Limit = 20) -> MessagePage:
        found = mk.inbox(tx, me.id, limit=limit + 1, before=read_cursor("messages", cursor))
        page = found[:limit]
        after = page[-1].id if len(found) > limit else None
        return MessagePage(
            items=[MessageOut(**msgspec.structs.asdict(m)) for m in page],
            next_cursor=issue_cursor("messages", after),
            unread=mk.unread(tx, me.id),
        )

    @post("/messages/read", status_code=200, responses=problems(), summary="Mark messages read")
    @api.write
    def read(self, tx: Tx, me: Me, now: Now, data: JSONBody[ReadIn]) -> Count:
        return Count(count=mk.mark_read(tx, me.id, data.ids, now=now))

    @get("/notice-settings", responses=problems(), summary="通知设置: opt-outs and quiet hours")
    @api.read
    def settings(self, tx: Tx, me: Me) -> mk.NoticePrefs:
        return mk.notice_prefs_of(tx, me.id)

    @put("/notice-settings", responses=problems(), summary="Set my notice settings")
    @api.write
    def set_settings(
        self, tx: Tx, me: Me, now: Now, data: JSONBody[NoticePrefsIn]
    ) -> mk.NoticePrefs:
        prefs = mk.NoticePrefs(**msgspec.structs.asdict(data))
        return mk.set_notice_prefs(tx, me.id, prefs, now=now)


class NoticesController(Controller):
    path = "/communities/{community_id:str}"
    tags = ["notices 通知"]
    opt = MEMBER

    @get("/webhooks", responses=problems(403, 404), summary="The community's webhooks (office)")
    @api.read
    def webhooks(self, tx: Tx, me: Me, community_id: Community) -> list[mk.Webhook]:
        return mk.list_webhooks(tx, me.id, community_id)

    @post(
        "/webhooks",
        status_code=201,
        responses=problems(403, 404),
        summary="Register a webhook: every event of the community, signed (docs/api.md)",
    )
    @api.write
    def add_webhook(
        self, tx: Tx, me: Me, now: Now, community_id: Community, data: JSONBody[WebhookIn]
    ) -> mk.Webhook:
        return mk.add_webhook(tx, me.id, community_id, data.url, data.secret,
                              own_system=data.own_system, now=now)  # fmt: skip

    @delete(
        "/webhooks/{webhook_id:str}",
        status_code=204,
        responses=problems(403, 404),
        summary="Stop a webhook",
    )
    @api.write
    def remove_webhook(
        self, tx: Tx, me: Me, community_id: Community, webhook_id: WebhookId
    ) -> None:
        mk.remove_webhook(tx, me.id, community_id, webhook_id)

    @get(
        "/dead-letters",
        responses=problems(403, 404),
        summary="死信: deliveries that gave up after every attempt (office)",
    )
    @api.read
    def dead_letters(self, tx: Tx, me: Me, community_id: Community) -> list[mk.Dead]:
        return mk.dead_letters(tx, me.id, community_id)

    @post(
        "/dead-letters/retry",
        status_code=200,
        responses=problems(403, 404),
        summary="Send dead letters again (all when no ids are given)",
    )
    @api.write
    def retry(
        self, tx: Tx, me: Me, now: Now, community_id: Community, data: JSONBody[ReadIn]
    ) -> Count:
        return Count(count=mk.retry(tx, me.id, community_id, data.ids, now=now))
