"""吹哨报到 over HTTP: blow the whistle on a wish, and what the street, the district and the
units do with the matter (受理 and 三单, 转派, 答复, 退回, 上报, 进展, 评价); the queues, the
public board's 三单, the quarterly evaluation, and the official working-day calendar.

Each handler parses, makes one library call in the request's transaction and returns what the
library gives. Who may do what is the library's matter table (:data:`marketplace.MATTER_TABLE`).
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated

import msgspec
from litestar import Controller, get, post, put
from litestar.params import JSONBody, PathParameter, QueryParameter

import marketplace as mk
from marketplace import MatterKind
from marketplace.calendars import Coverage, Day, LoadedYear
from marketplace.evaluation import Evaluation
from marketplace.matter_lists import BoardLine, QueueLine, WishMatter
from marketplace.matters import Matter, Milestone, MilestoneIn
from points import Cause
from service.api.boards import OrgId
from service.api.common import (
    ANONYMOUS,
    MEMBER,
    PUBLIC,
    Id,
    Input,
    Limit,
    Me,
    Now,
    Reason,
    Title,
    Tx,
    api,
    problems,
)
from service.api.wishes import Community, WishId
from service.text import text

MatterId = Annotated[str, PathParameter(max_length=64)]
Year = Annotated[int, PathParameter(ge=2000, le=2100, description="a year, e.g. 2027")]
Answer = Annotated[str, text(1, 1000, lines=True)]
Quarter = Annotated[
    str,
    QueryParameter(
        max_length=8,
        pattern=r"^(20[0-9]{2}(-Q[1-4]|-(0[1-9]|1[0-2]))?|[0-9]{1,3}d)$",
        description="a quarter (2026-Q4), or a year, a month or the last N days",
    ),
]


class WhistleIn(Input, frozen=True, kw_only=True):
    reason: Reason  # why the community cannot handle it itself


class StepIn(Input, frozen=True, kw_only=True):
    title: Title
    due_on: dt.date  # a China date after today


class AcceptIn(Input, frozen=True, kw_only=True):
    kind: MatterKind  # immediate or staged (understood: POST …/explain)
    milestones: Annotated[list[StepIn], msgspec.Meta(max_length=10)] = []


class ExplainIn(Input, frozen=True, kw_only=True):
    explanation: Answer  # what the resident is told (谅解)


class AssignIn(Input, frozen=True, kw_only=True):
    unit_id: Id
    days: Annotated[int, msgspec.Meta(ge=1, le=60)]  # working days to have it done


class AnswerIn(Input, frozen=True, kw_only=True):
    answer: Answer


class NoteIn(Input, frozen=True, kw_only=True):
    note: Reason
    milestone: Annotated[int, msgspec.Meta(ge=1, le=10)] | None = None  # a milestone done


class RatingIn(Input, frozen=True, kw_only=True):
    satisfaction: Annotated[int, msgspec.Meta(ge=1, le=5)]
    comment: Annotated[str, text(0, 500, lines=True)] = ""


class MatterOut(msgspec.Struct, frozen=True, kw_only=True):
    matter: Matter
    milestones: list[Milestone]
    actions: list[str]  # what the caller may do now (the table's answer)


class MatterList(msgspec.Struct, frozen=True, kw_only=True):
    items: list[WishMatter]


class QueueList(msgspec.Struct, frozen=True, kw_only=True):
    items: list[QueueLine]


class BoardList(msgspec.Struct, frozen=True, kw_only=True):
    items: list[BoardLine]


class DayIn(Input, frozen=True, kw_only=True):
    day: dt.date
    workday: bool  # true: 班 (a weekend day worked); false: 休 (a day off)
    name: Annotated[str, text(0, 50)] = ""


class YearIn(Input, frozen=True, kw_only=True):
    source: Annotated[str, text(1, 200)]
    days: Annotated[list[DayIn], msgspec.Meta(min_length=1, max_length=80)]


def matter_out(tx: Tx, me: Me, community_id: str, matter_id: str, now: dt.datetime) -> MatterOut:
    matter = mk.matters.load_matter(tx, community_id, matter_id)
    held = mk.matters.matter_roles(tx, me.id, matter)
    facts = (
        mk.matters.matter_facts(matter, mk.calendars.calendar(tx), now)
        if (matter.state is mk.MatterState.DONE)
        else mk.Facts(level=matter.level)
    )
    return MatterOut(
        matter=matter,
        milestones=mk.matters.milestones_of(tx, community_id, matter_id),
        actions=sorted(a.value for a in mk.matter_actions(matter.state, held, facts)),
    )


class MatterController(Controller):
    path = "/communities/{community_id:str}"
    tags = ["matters 吹哨报到"]
    opt = MEMBER

    @post(
        "/wishes/{wish_id:str}/whistle",
        status_code=201,
        responses=problems(403, 404, 409),
        summary="吹哨: the community's office hands the wish up to its street, with the reason",
    )
    @api.write
    def whistle(
        self, tx: Tx, me: Me, now: Now, community_id: Community, wish_id: WishId,
        data: JSONBody[WhistleIn],
    ) -> MatterOut:  # fmt: skip
        made = mk.matters.blow_whistle(
            tx, me.id, community_id, wish_id, reason=data.reason, now=now
        )
        return matter_out(tx, me, community_id, made.id, now)

    @get(
        "/wishes/{wish_id:str}/matters",
        responses=problems(404),
        summary="The wish's matters (督办进度), newest first, for whoever may see the wish",
    )
    @api.read
    def of_wish(self, tx: Tx, me: Me, community_id: Community, wish_id: WishId) -> MatterList:
        mk.wish_view(tx, me.id, community_id, wish_id)  # NotFound unless they may see the wish
        return MatterList(items=mk.matter_lists.wish_matters(tx, community_id, wish_id))

    @get("/matters/{matter_id:str}", responses=problems(404), summary="One matter")
    @api.read
    def show(
        self, tx: Tx, me: Me, now: Now, community_id: Community, matter_id: MatterId
    ) -> MatterOut:
        return matter_out(tx, me, community_id, matter_id, now)

    @post(
        "/matters/{matter_id:str}/accept",
        status_code=200,
        responses=problems(403, 404, 409),
        summary="受理: take it in as 即办 (3 working days) or 阶段性 (dated milestones)",
    )
    @api.write
    def accept(
        self, tx: Tx, me: Me, now: Now, community_id: Community, matter_id: MatterId,
        data: JSONBody[AcceptIn],
    ) -> MatterOut:  # fmt: skip
        steps = [MilestoneIn(title=s.title, due_on=s.due_on) for s in data.milestones]
        mk.matters.accept(tx, me.id, community_id, matter_id, kind=data.kind, steps=steps, now=now)
        return matter_out(tx, me, community_id, matter_id, now)

    @post(
        "/matters/{matter_id:str}/explain",
        status_code=200,
        responses=problems(403, 404, 409),
        summary="谅解: cannot be done now; records what the resident is told, and it is done",
    )
    @api.write
    def explain(
        self, tx: Tx, me: Me, now: Now, community_id: Community, matter_id: MatterId,
        data: JSONBody[ExplainIn],
    ) -> MatterOut:  # fmt: skip
        mk.matters.explain(
            tx, me.id, community_id, matter_id, explanation=data.explanation, now=now
        )
        return matter_out(tx, me, community_id, matter_id, now)

    @post(
        "/matters/{matter_id:str}/assign",
        status_code=200,
        responses=problems(403, 404, 409),
        summary="转派: to a unit or department, done within N working days",
    )
    @api.write
    def assign(
        self, tx: Tx, me: Me, now: Now, community_id: Community, matter_id: MatterId,
        data: JSONBody[AssignIn],
    ) -> MatterOut:  # fmt: skip
        mk.matters.assign(
            tx, me.id, community_id, matter_id, unit_id=data.unit_id, days=data.days, now=now
        )
        return matter_out(tx, me, community_id, matter_id, now)

    @post(
        "/matters/{matter_id:str}/answer",
        status_code=200,
        responses=problems(403, 404, 409),
        summary="答复办结: the result, told to the resident",
    )
    @api.write
    def answer(
        self, tx: Tx, me: Me, now: Now, community_id: Community, matter_id: MatterId,
        data: JSONBody[AnswerIn],
    ) -> MatterOut:  # fmt: skip
        mk.matters.answer(tx, me.id, community_id, matter_id, text=data.answer, now=now)
        return matter_out(tx, me, community_id, matter_id, now)

    @post(
        "/matters/{matter_id:str}/send-back",
        status_code=200,
        responses=problems(403, 404, 409),
        summary="退回: to the community (not taken in), or a unit back to its level, with a reason",
    )
    @api.write
    def send_back(
        self, tx: Tx, me: Me, now: Now, community_id: Community, matter_id: MatterId,
        data: JSONBody[WhistleIn],
    ) -> MatterOut:  # fmt: skip
        mk.matters.send_back(tx, me.id, community_id, matter_id, reason=data.reason, now=now)
        return matter_out(tx, me, community_id, matter_id, now)

    @post(
        "/matters/{matter_id:str}/escalate",
        status_code=200,
        responses=problems(403, 404, 409),
        summary="上报: the street hands it up to the district",
    )
    @api.write
    def escalate(
        self, tx: Tx, me: Me, now: Now, community_id: Community, matter_id: MatterId,
        data: JSONBody[WhistleIn],
    ) -> MatterOut:  # fmt: skip
        mk.matters.escalate(tx, me.id, community_id, matter_id, reason=data.reason, now=now)
        return matter_out(tx, me, community_id, matter_id, now)

    @post(
        "/matters/{matter_id:str}/notes",
        status_code=200,
        responses=problems(403, 404, 409),
        summary="进展: a progress note, or a milestone done",
    )
    @api.write
    def note(
        self, tx: Tx, me: Me, now: Now, community_id: Community, matter_id: MatterId,
        data: JSONBody[NoteIn],
    ) -> MatterOut:  # fmt: skip
        mk.matters.note(
            tx, me.id, community_id, matter_id, text=data.note, milestone=data.milestone, now=now
        )
        return matter_out(tx, me, community_id, matter_id, now)

    @post(
        "/matters/{matter_id:str}/rating",
        status_code=200,
        responses=problems(403, 404, 409),
        summary="评价: the community rates who handled it, within 5 working days after done",
    )
    @api.write
    def rate(
        self, tx: Tx, me: Me, now: Now, community_id: Community, matter_id: MatterId,
        data: JSONBody[RatingIn],
    ) -> MatterOut:  # fmt: skip
        mk.matters.rate(
            tx, me.id, community_id, matter_id, satisfaction=data.satisfaction,
            comment=data.comment, now=now,
        )  # fmt: skip
        return matter_out(tx, me, community_id, matter_id, now)


class MatterBoardController(Controller):
    path = "/orgs/{org_id:str}"
    tags = ["matters 吹哨报到"]
    opt = MEMBER

    @get(
        "/matters",
        responses=problems(404),
        summary="The open matters a street, district or unit must act on, soonest due first",
    )
    @api.read
    def queue(self, tx: Tx, me: Me, now: Now, org_id: OrgId, limit: Limit = 50) -> QueueList:
        return QueueList(
            items=mk.matter_lists.matter_queue(tx, me.id, org_id, now=now, limit=limit)
        )

    @get(
        "/evaluation",
        responses=problems(403, 404),
        summary="季度考评: response, resolution, on-time and satisfaction rates per handler",
    )
    @api.read
    def evaluation(self, tx: Tx, me: Me, now: Now, org_id: OrgId, period: Quarter) -> Evaluation:
        return mk.evaluation.quarterly(tx, me.id, org_id, period=period, now=now)


class PublicMattersController(Controller):
    path = "/boards/{community_id:str}"
    tags = ["matters 吹哨报到"]
    opt = PUBLIC
    security = ANONYMOUS

    @get(
        "/matters",
        responses=problems(404),
        summary="公示: the community's 三单, without personal data (no sign-in)",
    )
    @api.read
    def board(self, tx: Tx, community_id: Community) -> BoardList:
        return BoardList(items=mk.matter_lists.board_matters(tx, community_id))


class CalendarController(Controller):
    path = "/calendar"
    tags = ["matters 吹哨报到"]
    opt = MEMBER

    @get(
        "/",
        responses=problems(),
        summary="Which years working days can be counted in (the package's, the loaded)",
    )
    @api.read
    def coverage(self, tx: Tx, me: Me) -> Coverage:
        return mk.calendars.coverage(tx)

    @get("/{year:int}", responses=problems(404), summary="A loaded year's official days")
    @api.read
    def year(self, tx: Tx, me: Me, year: Year) -> LoadedYear:
        found = mk.calendars.loaded_year(tx, year)
        if found is None:
            raise mk.NotFound("calendar year", str(year))
        return found

    @put(
        "/{year:int}",
        status_code=200,
        responses=problems(403, 404),
        summary="Load a year's official days (休 and 班) from the State Council's notice (admin)",
    )
    @api.write
    def load(self, tx: Tx, me: Me, now: Now, year: Year, data: JSONBody[YearIn]) -> LoadedYear:
        days = tuple(Day(day=d.day, workday=d.workday, name=d.name) for d in data.days)
        if any(d.day.year != year for d in days):
            raise mk.InvalidInput("days", Cause("calendar_one_year"))
        return mk.calendars.load_year(tx, me.id, days, source=data.source, now=now)


ROUTES = [MatterController, MatterBoardController, PublicMattersController, CalendarController]
