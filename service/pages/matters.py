"""吹哨报到 pages: the community blows the whistle from a wish's page; the street, the district and
the units work their queue (吹哨事项, overdue first) and one matter's page, whose forms are the
actions the matter table gives the viewer (受理 and 三单, 谅解, 转派, 答复, 退回, 上报, 进展, 评价);
the quarterly evaluation (季度考评) as a page, an XLSX file and a PDF
(:mod:`service.evaluation_pdf`).

:func:`service.pages.progress.progress` says where a wish's matter stands in plain Chinese, for
the resident's wish page.
"""

from __future__ import annotations

import datetime as dt
import io
from typing import Annotated, Any

import msgspec
import openpyxl
from litestar import Request, Response, get, post
from litestar.exceptions import NotFoundException
from litestar.params import PathParameter, QueryParameter
from litestar.response import Template

import marketplace as mk
from marketplace import MatterAction, MatterKind, MatterState, OrgKind
from marketplace.evaluation import Evaluation
from marketplace.matters import MilestoneIn
from service import evaluation_pdf, labels
from service.api.common import MEMBER, Now, Reason, Tx
from service.pages.common import PathId, See, Viewer, done, handle, page, render
from service.pages.forms import Fields, Form
from service.pages.progress import day, progress
from service.pages.wish import act
from service.text import text

Action = Annotated[str, PathParameter(max_length=16)]
QuarterName = Annotated[
    str | None,
    QueryParameter(max_length=8, pattern=r"^20[0-9]{2}-Q[1-4]$", required=False),
]
LEVEL_ORGS = frozenset({OrgKind.STREET, OrgKind.DISTRICT, OrgKind.UNIT})
Long = Annotated[str, msgspec.Meta(min_length=1, max_length=1000), text(lines=True)]


class WhistleForm(Fields, frozen=True, kw_only=True):
    reason: Reason


class AcceptForm(Fields, frozen=True, kw_only=True):
    kind: MatterKind
    title1: str = ""
    due1: dt.date | None = None
    title2: str = ""
    due2: dt.date | None = None
    title3: str = ""
    due3: dt.date | None = None

    def steps(self) -> list[MilestoneIn]:
        given = ((self.title1, self.due1), (self.title2, self.due2), (self.title3, self.due3))
        return [MilestoneIn(title=t, due_on=d) for t, d in given if t.strip() and d is not None]


class ExplainForm(Fields, frozen=True, kw_only=True):
    explanation: Long


class AssignForm(Fields, frozen=True, kw_only=True):
    unit_id: Annotated[str, msgspec.Meta(min_length=1, max_length=64)]
    days: Annotated[int, msgspec.Meta(ge=1, le=60)]


class AnswerForm(Fields, frozen=True, kw_only=True):
    answer: Long


class NoteForm(Fields, frozen=True, kw_only=True):
    note: Reason
    milestone: Annotated[int, msgspec.Meta(ge=1, le=10)] | None = None


class RateForm(Fields, frozen=True, kw_only=True):
    satisfaction: Annotated[int, msgspec.Meta(ge=1, le=5)]
    comment: Annotated[str, msgspec.Meta(max_length=500), text(lines=True)] = ""


@post("/wishes/{wish_id:str}/whistle", opt=MEMBER)
@page.write
def whistle(
    request: Request[Any, Any, Any], tx: Tx, now: Now, viewer: See, wish_id: PathId, form: Form
) -> Response[Any]:
    def do(form: Form) -> str:
        data = form.parse(WhistleForm)
        mk.matters.blow_whistle(tx, viewer.id, viewer.community(), wish_id, reason=data.reason,
                                now=now)  # fmt: skip
        return "已向街道吹哨，街道受理后会在这里显示进度"

    return act(request, tx, viewer, form, now, wish_id, "确定把这件事上报街道（吹哨）吗？", do)


@post("/escalations/{community_id:str}/{wish_id:str}/take-up", opt=MEMBER)
@page.write
def take_up(
    request: Request[Any, Any, Any],
    tx: Tx,
    now: Now,
    viewer: See,
    community_id: PathId,
    wish_id: PathId,
    form: Form,
) -> Response[Any]:
    """督办受理 from the escalation queue: the street or district takes up an overdue wish."""

    def do() -> Response[Any]:
        made = mk.matters.take_up(tx, viewer.id, community_id, wish_id, now=now)
        return done(f"/matters/{community_id}/{made.id}", "已受理督办，请分类办理")

    return handle(
        request, viewer, form, do, ask="确定受理这件超时的心愿、由本级督办吗？",
        back="/staff/escalations",
    )  # fmt: skip


@get("/staff/matters", opt=MEMBER)
@page.read
def queue(request: Request[Any, Any, Any], tx: Tx, now: Now, viewer: See) -> Template:
    """吹哨事项: a street's, district's or unit's queue (overdue first); a community's own
    whistles (newest first)."""
    seat = viewer.seat
    assert seat is not None  # the page's access asks the seat's roles
    if seat.org_kind in LEVEL_ORGS:
        lines = mk.matter_lists.matter_queue(tx, viewer.id, seat.org_id, now=now)
        title, own = f"{seat.org_name} · 待办吹哨事项", False
    else:
        lines = mk.matter_lists.community_matters(tx, viewer.id, viewer.community(), now=now)
        title, own = "本社区的吹哨事项", True
    return render(request, "matters.html", viewer, lines=lines, title=title, own=own, day=day)


def matter_page(
    request: Request[Any, Any, Any],
    tx: Tx,
    viewer: Viewer,
    now: dt.datetime,
    community_id: str,
    matter_id: str,
) -> Template:
    matter = mk.matters.load_matter(tx, community_id, matter_id)
    held = mk.matters.matter_roles(tx, viewer.id, matter)
    cal = mk.calendars.calendar(tx)
    facts = (
        mk.matters.matter_facts(matter, cal, now)
        if matter.state is MatterState.DONE
        else mk.Facts(level=matter.level)
    )
    actions = {a.value for a in mk.matter_actions(matter.state, held, facts)}
    found = next(
        f
        for f in mk.matter_lists.wish_matters(tx, community_id, matter.wish_id)
        if f.matter.id == matter.id
    )
    wish = mk.load_wish(tx, community_id, matter.wish_id)  # the matter's roles admitted them
    history = [t for t in mk.history(tx, community_id, matter.id) if t.subject == "matter"]
    units = mk.matter_lists.assignees(tx, matter) if "assign_unit" in actions else []
    return render(
        request,
        "matter.html",
        viewer,
        matter=matter,
        found=found,
        wish=wish,
        actions=actions,
        history=history,
        units=units,
        steps=[(str(s.n), s.title) for s in found.milestones if s.done_at is None],
        lines=progress(found),
        day=day,
        overdue=matter.overdue(now),
    )


@get("/matters/{community_id:str}/{matter_id:str}", opt=MEMBER)
@page.read
def show(
    request: Request[Any, Any, Any],
    tx: Tx,
    now: Now,
    viewer: See,
    community_id: PathId,
    matter_id: PathId,
) -> Template:
    return matter_page(request, tx, viewer, now, community_id, matter_id)


QUESTIONS = {
    MatterAction.ACCEPT: "确定受理并列入所选清单吗？",
    MatterAction.EXPLAIN: "确定列入谅解清单并把说明告知居民吗？",
    MatterAction.ASSIGN: "确定转派给该单位办理吗？",
    MatterAction.ANSWER: "确定答复并办结吗？",
    MatterAction.SEND_BACK: "确定退回吗？",
    MatterAction.ESCALATE: "确定上报区级吗？",
    MatterAction.NOTE: "确定记录这条进展吗？",
    MatterAction.RATE: "确定提交评价吗？",
}


@post("/matters/{community_id:str}/{matter_id:str}/{action:str}", opt=MEMBER)
@page.write
def move(
    request: Request[Any, Any, Any],
    tx: Tx,
    now: Now,
    viewer: See,
    community_id: PathId,
    matter_id: PathId,
    action: Action,
    form: Form,
) -> Response[Any]:
    """One action on a matter from its page; a refusal shows the page again with the reason."""
    back = f"/matters/{community_id}/{matter_id}"
    m, c, me = mk.matters, community_id, viewer.id
    try:
        verb = MatterAction(action)
    except ValueError:
        raise NotFoundException(f"no action {action}") from None

    def do() -> Response[Any]:
        if verb is MatterAction.ACCEPT:
            a = form.parse(AcceptForm)
            m.accept(tx, me, c, matter_id, kind=a.kind, steps=a.steps(), now=now)
            said = f"已受理，列入{labels.label(labels.MATTER_KINDS, a.kind)}"
        elif verb is MatterAction.EXPLAIN:
            e = form.parse(ExplainForm)
            m.explain(tx, me, c, matter_id, explanation=e.explanation, now=now)
            said = "已列入谅解清单，说明已告知居民"
        elif verb is MatterAction.ASSIGN:
            s = form.parse(AssignForm)
            m.assign(tx, me, c, matter_id, unit_id=s.unit_id, days=s.days, now=now)
            said = "已转派"
        elif verb is MatterAction.ANSWER:
            m.answer(tx, me, c, matter_id, text=form.parse(AnswerForm).answer, now=now)
            said = "已答复办结"
        elif verb in (MatterAction.SEND_BACK, MatterAction.ESCALATE):
            reason = form.parse(WhistleForm).reason
            moved = m.send_back if verb is MatterAction.SEND_BACK else m.escalate
            moved(tx, me, c, matter_id, reason=reason, now=now)
            said = "已退回" if verb is MatterAction.SEND_BACK else "已上报区级"
        elif verb is MatterAction.NOTE:
            n = form.parse(NoteForm)
            m.note(tx, me, c, matter_id, text=n.note, milestone=n.milestone, now=now)
            said = "已记录进展"
        else:
            r = form.parse(RateForm)
            m.rate(tx, me, c, matter_id, satisfaction=r.satisfaction, comment=r.comment, now=now)
            said = "已评价，谢谢"
        return done(back, said)

    return handle(
        request,
        viewer,
        form,
        do,
        ask=QUESTIONS[verb],
        back=back,
        show=lambda tx: matter_page(request, tx, viewer, now, community_id, matter_id),
    )


def this_quarter(now: dt.datetime) -> str:
    today = mk.workdays.china_day(now)
    return f"{today.year}-Q{(today.month - 1) // 3 + 1}"


def _area(viewer: Viewer) -> str:
    seat = viewer.seat
    assert seat is not None  # the page's access asks the seat's roles
    return seat.org_id if seat.community_id is None else seat.community_id


@get("/staff/evaluation", opt=MEMBER)
@page.read
def evaluation(
    request: Request[Any, Any, Any], tx: Tx, now: Now, viewer: See, period: QuarterName = None
) -> Template:
    """季度考评: each handler's response, resolution, on-time and satisfaction rates."""
    found = _quarter(tx, viewer, now, period)
    return render(request, "evaluation.html", viewer, ev=found, period=found.period)


def _quarter(tx: Tx, viewer: Viewer, now: dt.datetime, period: str | None) -> Evaluation:
    """The viewer's area's evaluation of ``period`` (this quarter by default): what the page
    and its two downloads show."""
    chosen = period or this_quarter(now)
    return mk.evaluation.quarterly(tx, viewer.id, _area(viewer), period=chosen, now=now)


XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
HEADINGS = ("单位/部门", "类型", "受理事项", "响应率(%)", "办结率(%)", "按时办结率(%)",
            "满意率(%)", "平均评分")  # fmt: skip


def evaluation_xlsx(found: Evaluation) -> bytes:
    """The quarter's figures as a spreadsheet (openpyxl's write-only mode: rows streamed)."""
    book = openpyxl.Workbook(write_only=True)
    sheet = book.create_sheet(f"季度考评 {found.period}")
    sheet.append(list(HEADINGS))
    for h in found.handlers:
        sheet.append(
            [h.name, labels.label(labels.ORG_KINDS, h.kind), h.received, h.responded.percent,
             h.resolved.percent, h.on_time.percent, h.satisfied.percent, h.mean_rating]
        )  # fmt: skip
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


@get("/staff/evaluation.xlsx", opt=MEMBER)
@page.read
def evaluation_file(
    request: Request[Any, Any, Any], tx: Tx, now: Now, viewer: See, period: QuarterName = None
) -> Response[bytes]:
    found = _quarter(tx, viewer, now, period)
    name = f"evaluation-{found.org_id}-{found.period}.xlsx"
    return Response(
        content=evaluation_xlsx(found),
        media_type=XLSX,
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )


@get("/staff/evaluation.pdf", opt=MEMBER)
@page.read
def evaluation_pdf_file(
    request: Request[Any, Any, Any], tx: Tx, now: Now, viewer: See, period: QuarterName = None
) -> Response[bytes]:
    """季度考评 as an A4 PDF: the page's figures (503 in Chinese when no CJK font is installed)."""
    found = _quarter(tx, viewer, now, period)
    name = mk.get_org(tx, found.org_id).name
    return evaluation_pdf.response(request, found, area=name, now=now)


ROUTES = [whistle, take_up, queue, show, move, evaluation, evaluation_file, evaluation_pdf_file]
