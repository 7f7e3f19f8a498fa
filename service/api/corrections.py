"""Corrections over HTTP (更正申请): a volunteer's hours records, her requests to correct one,
the office's queue and decisions. Rules and authorization are :mod:`marketplace.corrections`'."""

from __future__ import annotations

from typing import Annotated

import msgspec
from litestar import Controller, get, post
from litestar.params import JSONBody, PathParameter, QueryParameter

import marketplace as mk
from marketplace import Correction, CorrectionField, CorrectionState, CorrectionView
from points import ServiceRecord
from service.api.common import (
    MEMBER,
    Cursor,
    Input,
    Limit,
    Me,
    Note,
    Now,
    Reason,
    Tx,
    api,
    issue_cursor,
    problems,
    read_cursor,
)
from service.api.wishes import Community
from service.text import text

MemberId = Annotated[str, PathParameter(max_length=64)]
CorrectionId = Annotated[str, PathParameter(max_length=64)]


class CorrectionIn(Input, frozen=True, kw_only=True):
    """申请更正: which record (an original's reference, e.g. ``claim:<id>``), what is wrong, the
    value it should have, and why (required)."""

    reference: Annotated[str, text(1, 128)]
    field: CorrectionField
    proposed: Annotated[str, text(1, 32)]  # minutes (digits), a date (YYYY-MM-DD), a category
    reason: Reason


class AcceptIn(Input, frozen=True, kw_only=True):
    note: Note = ""


class RefuseIn(Input, frozen=True, kw_only=True):
    reason: Reason  # required: the volunteer reads it


class CorrectionPage(msgspec.Struct, frozen=True, kw_only=True):
    items: list[Correction]
    next_cursor: str | None


class RecordPage(msgspec.Struct, frozen=True, kw_only=True):
    items: list[ServiceRecord]
    next_cursor: str | None


StateFilter = Annotated[
    list[CorrectionState] | None,
    QueryParameter(
        name="state", required=False, description="pending (when absent), corrected, refused"
    ),
]


class CorrectionController(Controller):
    path = "/communities/{community_id:str}"
    tags = ["corrections 更正申请"]
    opt = MEMBER

    @get(
        "/members/{member_id:str}/hours-records",
        responses=problems(404),
        summary="服务记录: a member's hours records and their corrections, newest first",
    )
    @api.read
    def records(
        self,
        tx: Tx,
        me: Me,
        community_id: Community,
        member_id: MemberId,
        cursor: Cursor = None,
        limit: Limit = 50,
    ) -> RecordPage:
        page = mk.corrections.records(
            tx, me.id, community_id, member_id,
            cursor=read_cursor("hours-records", cursor), limit=limit,
        )  # fmt: skip
        return RecordPage(
            items=list(page.items), next_cursor=issue_cursor("hours-records", page.next_cursor)
        )

    @post(
        "/corrections",
        status_code=201,
        responses=problems(403, 404, 409),
        summary="申请更正: ask the community to correct one's own hours record (reason required)",
    )
    @api.write
    def request(
        self, tx: Tx, me: Me, now: Now, community_id: Community, data: JSONBody[CorrectionIn]
    ) -> Correction:
        return mk.request_correction(
            tx, me.id, community_id, reference=data.reference, field=data.field,
            proposed=data.proposed, reason=data.reason, now=now,
        )  # fmt: skip

    @get(
        "/corrections",
        responses=problems(403, 404),
        summary="更正申请 queue (office): pending first by default",
    )
    @api.read
    def queue(
        self,
        tx: Tx,
        me: Me,
        community_id: Community,
        states: StateFilter = None,
        cursor: Cursor = None,
        limit: Limit = 50,
    ) -> CorrectionPage:
        page = mk.correction_queue(
            tx, me.id, community_id, states=frozenset(states or (CorrectionState.PENDING,)),
            cursor=read_cursor("corrections", cursor), limit=limit,
        )  # fmt: skip
        return CorrectionPage(
            items=list(page.items), next_cursor=issue_cursor("corrections", page.next_cursor)
        )

    @get(
        "/my-corrections",
        responses=problems(404),
        summary="我的更正申请: one's own requests in the community, newest first",
    )
    @api.read
    def mine(
        self, tx: Tx, me: Me, community_id: Community, cursor: Cursor = None, limit: Limit = 50
    ) -> CorrectionPage:
        page = mk.my_corrections(
            tx, me.id, community_id=community_id,
            cursor=read_cursor("my-corrections", cursor), limit=limit,
        )  # fmt: skip
        return CorrectionPage(
            items=list(page.items), next_cursor=issue_cursor("my-corrections", page.next_cursor)
        )

    @get(
        "/corrections/{correction_id:str}",
        responses=problems(404),
        summary="One request with its history and the record's rows (original, reversal, entry)",
    )
    @api.read
    def one(
        self, tx: Tx, me: Me, community_id: Community, correction_id: CorrectionId
    ) -> CorrectionView:
        return mk.correction(tx, me.id, community_id, correction_id)

    @post(
        "/corrections/{correction_id:str}/acceptance",
        status_code=200,
        responses=problems(403, 404, 409),
        summary="更正 (office): the record and its points replaced by reversals and new entries",
    )
    @api.write
    def accept(
        self,
        tx: Tx,
        me: Me,
        now: Now,
        community_id: Community,
        correction_id: CorrectionId,
        data: JSONBody[AcceptIn],
    ) -> Correction:
        return mk.accept_correction(tx, me.id, community_id, correction_id, note=data.note,
                                    now=now)  # fmt: skip

    @post(
        "/corrections/{correction_id:str}/refusal",
        status_code=200,
        responses=problems(403, 404, 409),
        summary="驳回 (office): refuse the request with a reason the volunteer reads",
    )
    @api.write
    def refuse(
        self,
        tx: Tx,
        me: Me,
        now: Now,
        community_id: Community,
        correction_id: CorrectionId,
        data: JSONBody[RefuseIn],
    ) -> Correction:
        return mk.refuse_correction(tx, me.id, community_id, correction_id, reason=data.reason,
                                    now=now)  # fmt: skip
