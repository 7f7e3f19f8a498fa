"""The roster import pages (导入花名册): download the template, upload a file, see a preview of
its first rows and every problem (also as an XLSX with a 问题 column), then confirm.

The upload is checked and kept (:func:`marketplace.uploads.stage`), so that the confirmation does
not need the file again. Confirming answers at once and imports in the background of this
process (the response's background task, one unit of work on the writer); the preview page then
shows a progress bar that polls :func:`progress` (htmx, every second; without JavaScript the page
refreshes itself) until the import is done, then shows who was registered (their ids: each is to
be given a one-time sign-in code) and who was updated. Progress is known to the process that
imports; another process's page shows 正在导入 without the count until the import commits.
"""

from __future__ import annotations

import threading
from typing import Annotated, Any

import msgspec
from litestar import Request, Response, get, post
from litestar.background_tasks import BackgroundTask
from litestar.datastructures import UploadFile
from litestar.params import PathParameter
from litestar.response import Template

import marketplace as mk
from marketplace import imports, uploads
from points import Cause
from service import codes, i18n, rosters
from service.api.common import MEMBER, Now, Tx
from service.pages.common import See, Viewer, china, done, handle, page, render, shown_once
from service.pages.forms import Form

UPLOAD_BYTES = mk.sheets.MAX_BYTES + 2**20
"""An upload's request body, at most: the largest file read and the form around it."""
SHOWN_PROBLEMS = 200
KEPT = 200  # imports a process remembers (running, or finished for the page that polls)
ImportId = Annotated[str, PathParameter(max_length=64)]


class Running(msgspec.Struct, kw_only=True):
    """An import running in this process: rows written of all, and how it ended."""

    done: int = 0
    total: int = 0
    finished: bool = False
    error: str | None = None


class Imports:
    """The imports this process runs, by id (app state: one per app)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.running: dict[str, Running] = {}

    def start(self, import_id: str) -> Running | None:
        with self.lock:
            if import_id in self.running and not self.running[import_id].finished:
                return None  # confirmed twice: the first runs
            if len(self.running) > KEPT:  # forget the oldest finished ones
                over = [k for k, r in self.running.items() if r.finished][: len(self.running) // 2]
                for key in over:
                    del self.running[key]
            self.running[import_id] = Running()
            return self.running[import_id]

    def get(self, import_id: str) -> Running | None:
        with self.lock:
            return self.running.get(import_id)


def _imports(request: Request[Any, Any, Any]) -> Imports:
    state = request.app.state
    found = getattr(state, "roster_imports", None)
    if found is None:
        found = Imports()
        state.roster_imports = found
    assert isinstance(found, Imports)
    return found


async def _upload(request: Request[Any, Any, Any], _given: dict[str, Any]) -> tuple[str, bytes]:
    """The chosen file's name and bytes (a byte more than the largest read: refused by size)."""
    form = await request.form()
    chosen = form.get("file")
    if not isinstance(chosen, UploadFile) or not chosen.filename:
        return "", b""
    return chosen.filename, await chosen.read(mk.sheets.MAX_BYTES + 1)


def _upload_page(request: Request[Any, Any, Any], viewer: Viewer) -> Template:
    return render(request, "roster_upload.html", viewer)


@get("/staff/import", opt=MEMBER)
@page.read
def upload_page(request: Request[Any, Any, Any], tx: Tx, viewer: See) -> Template:
    mk.get_org(tx, viewer.community())
    return _upload_page(request, viewer)


@get("/staff/import/template.xlsx", opt=MEMBER)
@page.read
def template(request: Request[Any, Any, Any], tx: Tx, viewer: See) -> Response[bytes]:
    return Response(
        content=rosters.template(),
        media_type=rosters.XLSX,
        headers={"Content-Disposition": f'attachment; filename="{rosters.TEMPLATE_NAME}"'},
    )


@post("/staff/import", opt=MEMBER, request_max_body_size=UPLOAD_BYTES)
@page.write_after(upload=_upload)
def upload(
    request: Request[Any, Any, Any],
    tx: Tx,
    now: Now,
    viewer: See,
    form: Form,
    upload: tuple[str, bytes],
) -> Response[Any]:
    """Check the chosen file and keep it; its preview follows."""

    def do() -> Response[Any]:
        filename, content = upload
        if not filename:
            raise mk.InvalidInput("file", Cause("sheet_empty"))
        kept = uploads.stage(tx, viewer.id, viewer.community(), filename, content, now=now)
        found = kept.problems
        message = f"发现 {found} 个问题，请修改后重新上传" if found else "检查通过，请确认导入"
        return done(f"/staff/import/{kept.id}", message, "error" if found else "ok")

    return handle(
        request,
        viewer,
        form,
        do,
        back="/staff/import",
        show=lambda tx: _upload_page(request, viewer),
    )


def _preview(request: Request[Any, Any, Any], tx: Tx, viewer: Viewer, import_id: str) -> Template:
    kept = uploads.staged(tx, viewer.id, viewer.community(), import_id)
    report = kept.result
    running = _imports(request).get(import_id)
    # Still checked here while the import finished without an error: this read's snapshot began
    # before the import committed, so the page polls (and the poll refreshes it) instead of
    # showing the preview again with nothing left to poll.
    importing = (
        running is not None
        and kept.state == "checked"
        and (not running.finished or running.error is None)
    )
    problems = report.problems if report else ()
    return render(
        request,
        "roster_preview.html",
        viewer,
        kept=kept,
        report=report,
        problems=[rosters.problem_text(p) for p in problems[:SHOWN_PROBLEMS]],
        more_problems=max(0, len(problems) - SHOWN_PROBLEMS),
        running=running if importing else None,
        failed=running.error if running is not None and running.finished else None,
        field_zh=i18n.field_zh,
    )


@get("/staff/import/{import_id:str}", opt=MEMBER)
@page.read
def preview(request: Request[Any, Any, Any], tx: Tx, viewer: See, import_id: ImportId) -> Template:
    return _preview(request, tx, viewer, import_id)


@get("/staff/import/{import_id:str}/problems.xlsx", opt=MEMBER)
@page.read
def problems(
    request: Request[Any, Any, Any], tx: Tx, viewer: See, import_id: ImportId
) -> Response[bytes]:
    """The file's rows with a problem, and a 问题 column saying what (问题清单)."""
    kept = uploads.staged(tx, viewer.id, viewer.community(), import_id)
    content = uploads.staged_content(tx, viewer.id, viewer.community(), import_id)
    found = kept.result.problems if kept.result else ()
    if not found or not content:
        raise mk.NotFound("import", import_id)
    return Response(
        content=rosters.problems_workbook(content, found),
        media_type=rosters.XLSX,
        headers={"Content-Disposition": 'attachment; filename="linli-roster-problems.xlsx"'},
    )


@get("/staff/import/{import_id:str}/progress", opt=MEMBER)
@page.read
def progress(
    request: Request[Any, Any, Any], tx: Tx, viewer: See, import_id: ImportId
) -> Response[Any]:
    """The progress bar (polled): 286 with ``HX-Refresh`` once the import is over, so that
    htmx stops polling and the page shows the result."""
    kept = uploads.staged(tx, viewer.id, viewer.community(), import_id)
    running = _imports(request).get(import_id)
    if kept.state != "checked" or running is None or running.finished:
        return Response(content="", status_code=286, headers={"HX-Refresh": "true"})
    return render(request, "_roster_progress.html", viewer, running=running, kept=kept)


async def _run_import(
    request: Request[Any, Any, Any], actor: str, community_id: str, import_id: str
) -> None:
    """The import, after the confirmation has answered (one unit of work on the writer)."""
    running = _imports(request).get(import_id)
    assert running is not None
    clock = request.app.state.clock

    def tell(done: int, total: int) -> None:
        running.done, running.total = done, total

    def unit(conn: Tx) -> imports.Report:
        return uploads.import_staged(
            conn, actor, community_id, import_id, progress=tell, now=clock()
        )

    try:
        report = await request.app.state.db.awrite(unit)
        if report.problems:
            running.error = f"数据已变化，发现 {len(report.problems)} 个问题，未写入任何数据"
    except Exception as exc:  # the page says so; nothing was written (the unit rolled back)
        running.error = f"导入失败，未写入任何数据（{type(exc).__name__}）"
        raise
    finally:
        running.finished = True


@post("/staff/import/{import_id:str}/confirm", opt=MEMBER)
@page.write
def confirm(
    request: Request[Any, Any, Any],
    tx: Tx,
    now: Now,
    viewer: See,
    form: Form,
    import_id: ImportId,
) -> Response[Any]:
    """确认导入: start the import of a checked file with no problem."""
    back = f"/staff/import/{import_id}"

    def do() -> Response[Any]:
        community_id = viewer.community()
        kept = uploads.staged(tx, viewer.id, community_id, import_id)
        if kept.state == "imported":
            return done(back, "已导入")
        if kept.state != "checked" or kept.problems:
            raise mk.InvalidInput("import_id", Cause("roster_dropped"))
        answer = done(back, "已开始导入")
        if _imports(request).start(import_id) is not None:
            answer.background = BackgroundTask(
                _run_import, request, viewer.id, community_id, import_id
            )
        return answer

    return handle(
        request,
        viewer,
        form,
        do,
        back=back,
        ask="确定导入这份花名册吗？",
        show=lambda tx: _preview(request, tx, viewer, import_id),
    )


@post("/staff/import/{import_id:str}/drop", opt=MEMBER)
@page.write
def drop(
    request: Request[Any, Any, Any],
    tx: Tx,
    now: Now,
    viewer: See,
    form: Form,
    import_id: ImportId,
) -> Response[Any]:
    def do() -> Response[Any]:
        uploads.drop_staged(tx, viewer.id, viewer.community(), import_id, now=now)
        return done("/staff/import", "已放弃这份文件")

    return handle(request, viewer, form, do, back=f"/staff/import/{import_id}",
                  ask="确定放弃导入这份文件吗？")  # fmt: skip


@post("/staff/import/{import_id:str}/codes", opt=MEMBER)
@shown_once.write
def issue_codes(
    request: Request[Any, Any, Any],
    tx: Tx,
    now: Now,
    viewer: See,
    form: Form,
    import_id: ImportId,
) -> Response[Any]:
    """发放激活码: a one-time code for each member an import registered who has not set a
    password yet (:func:`service.codes.issue_codes`), listed once, to be told to each in person
    or by phone. Like the single code, the page is kept nowhere (``no-store``); issuing again
    replaces the codes not used yet."""
    back = f"/staff/import/{import_id}"

    def do() -> Response[Any]:
        community_id = viewer.community()
        kept = uploads.staged(tx, viewer.id, community_id, import_id)
        created = kept.result.created if kept.state == "imported" and kept.result else ()
        waiting = codes.without_password(tx, [made.member_id for made in created])
        if not waiting:
            return done(back, "本次导入的新成员都已设置密码")
        settings = request.app.state.settings
        issued = codes.issue_codes(
            tx,
            viewer.id,
            community_id,
            waiting,
            secret=settings.secret_key,
            lifetimes=codes.Lifetimes.of(settings),
            now=now,
            purpose=codes.Purpose.ACTIVATE,
            address=request.client.host if request.client else None,
        )
        shown = render(
            request,
            "sign_in_codes.html",
            viewer,
            issued=[(one, f"{one.code[:4]} {one.code[4:]}") for one in issued],
            expires=china(issued[0].expires_at, "%m月%d日 %H:%M"),
            back=back,
        )
        shown.headers["Cache-Control"] = "no-store"
        shown.headers["HX-Push-Url"] = "false"  # a refresh shows the import, never the codes
        return shown

    return handle(
        request,
        viewer,
        form,
        do,
        back=back,
        ask="确定为本次导入的新成员发放激活码吗？之前发放而未使用的激活码将失效。",
        show=lambda tx: _preview(request, tx, viewer, import_id),
    )


ROUTES = [upload_page, template, upload, preview, problems, progress, confirm, drop, issue_codes]
