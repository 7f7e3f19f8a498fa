"""The web pages (网页): server-rendered Jinja templates in Chinese, htmx for partial updates.

Every page handler calls the same library operations as the API, in the request's transaction
and as the signed-in member, so the pages obey the same authorization. ``ROUTES`` is one Router
that the app mounts beside the API; it turns errors into pages (signed out: the sign-in page).
Each handler is one unit of work (``@page.read`` / ``@page.write``, :mod:`service.pages.common`).
"""

from __future__ import annotations

import importlib.resources

from litestar import Router
from litestar.plugins.jinja import JinjaTemplateEngine
from litestar.template.config import TemplateConfig

from service.api.common import MEMBER
from service.pages import (
    board,
    certificates,
    common,
    corrections,
    dashboard,
    duty,
    exports,
    forms,
    matters,
    messages,
    office,
    offline,
    partners,
    photos,
    points,
    profiles,
    resident,
    roster,
    session,
    staff,
    stock,
    unit_report,
    volunteer,
    wish,
)
from service.pages.common import china, page_error

TEMPLATES = importlib.resources.files("service") / "templates"


def _engine(engine: JinjaTemplateEngine) -> None:
    engine.engine.filters["cst"] = china
    engine.engine.globals["page_size"] = common.PAGE
    engine.engine.globals["new_key"] = forms.new_key
    engine.engine.globals["sealed"] = common.sealed


def template_config() -> TemplateConfig[JinjaTemplateEngine]:
    """Jinja over ``service/templates``, with the pages' filters (one per app)."""
    return TemplateConfig(
        directory=str(TEMPLATES), engine=JinjaTemplateEngine, engine_callback=_engine
    )


ROUTES = [
    Router(
        path="/",
        route_handlers=[
            *session.ROUTES,
            *wish.ROUTES,
            *photos.ROUTES,
            *resident.ROUTES,
            *volunteer.ROUTES,
            *points.ROUTES,
            *corrections.ROUTES,
            *staff.ROUTES,
            *office.ROUTES,
            *roster.ROUTES,
            *profiles.ROUTES,
            *stock.ROUTES,
            *dashboard.ROUTES,
            *unit_report.ROUTES,
            *duty.ROUTES,
            *partners.ROUTES,
            *exports.ROUTES,
            *board.ROUTES,
            *certificates.ROUTES,
            *offline.ROUTES,
            *matters.ROUTES,
            *messages.ROUTES,
        ],
        exception_handlers={Exception: page_error},
        opt=MEMBER,  # for Litestar's own OPTIONS handlers; each page states its own policy
        include_in_schema=False,
    )
]
