"""[Tools] > Outbox: the messages the portal sent or kept, for the company in use."""

from __future__ import annotations

from litestar import get
from litestar.params import FromPath, FromQuery
from litestar.response import Template

from portal.core.pagination import Page
from portal.core.permissions import OUTBOX_READ
from portal.mail import services
from portal.staff.access import Admin

PER_PAGE = 50


@get("/tools/outbox", name="admin:outbox", permission=OUTBOX_READ)
async def outbox(admin: Admin, page: FromQuery[int] = 1) -> Template:
    total = await services.count_messages(admin.company.id)
    pager = Page.of(page, PER_PAGE, total)
    messages = await services.list_messages(admin.company.id, limit=PER_PAGE, offset=pager.offset)
    return Template(
        "admin/mail/outbox.html",
        context={"page_title": "Outbox", "messages": messages, "pager": pager},
    )


@get("/tools/outbox/{message_id:int}", name="admin:outbox-message", permission=OUTBOX_READ)
async def outbox_message(admin: Admin, message_id: FromPath[int]) -> Template:
    message = await services.get_message(admin.company.id, message_id, admin.actor())
    return Template(
        "admin/mail/message.html", context={"page_title": message["subject"], "message": message}
    )


admin_handlers = [outbox, outbox_message]
