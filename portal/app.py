"""The Litestar application: areas, middleware, stores and lifecycle."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator

from litestar import Litestar, Router
from litestar.config.compression import CompressionConfig
from litestar.di import Provide
from litestar.plugins.flash import FlashConfig, FlashPlugin
from litestar.plugins.htmx import HTMXPlugin
from litestar.stores.base import Store

from portal import plugins
from portal.activity import routes as activity_routes
from portal.api import idempotency as api_idempotency
from portal.api import routes as api_routes
from portal.api.conventions import RequestBodySchemaPlugin
from portal.billing import routes as billing_routes
from portal.client_area import routes as client_area_routes
from portal.client_area import staff_routes as client_area_staff_routes
from portal.client_groups import routes as client_group_routes
from portal.clients import browse_routes as client_browse_routes
from portal.clients import bulk_routes as client_bulk_routes
from portal.clients import contact_routes as client_contact_routes
from portal.clients import merge_routes as client_merge_routes
from portal.clients import profile_routes as client_profile_routes
from portal.clients import routes as client_routes
from portal.clients import segment_routes as client_segment_routes
from portal.clients import tag_routes as client_tag_routes
from portal.clients import user_routes as client_user_routes
from portal.companies import routes as company_routes
from portal.core import db, throttle
from portal.core.config import get_settings
from portal.core.csrf import csrf_middleware
from portal.core.error_pages import exception_handlers
from portal.core.errors import Unavailable
from portal.core.i18n import language_middleware
from portal.core.limits import MAX_FORM_FIELDS, request_limits_middleware
from portal.core.security import security_headers_hook
from portal.core.sessions import (
    SESSION_COOKIE,
    STORE_NAME,
    DatabaseStore,
    PortalSessionConfig,
)
from portal.core.static import static_file
from portal.core.templating import template_config
from portal.core.web import PortalRequest
from portal.dashboard import routes as dashboard_routes
from portal.imports import routes as import_routes
from portal.jobs import routes as job_routes
from portal.jobs import services as jobs
from portal.mail import routes as mail_routes
from portal.privacy import client_routes as privacy_client_routes
from portal.privacy import export as privacy_export
from portal.privacy import retention as privacy_retention
from portal.privacy import routes as privacy_routes
from portal.security import routes as security_routes
from portal.security.web import SecurityStep, security_step_handler
from portal.staff import members_routes as staff_members_routes
from portal.staff import routes as staff_routes
from portal.staff.access import STAFF_AREA, provide_admin, require_staff
from portal.webhooks import routes as webhook_routes
from portal.webhooks import worker as webhook_worker

logger = logging.getLogger("portal")

HOUSEKEEPING_INTERVAL_SECONDS = 600
MAX_REQUEST_BODY_BYTES = 2 * 1024 * 1024


def _session_store() -> Store:
    settings = get_settings()
    if settings.redis_url:
        from portal.core.redis_sessions import RedisSessionStore

        return RedisSessionStore.connect(settings.redis_url, settings.redis_timeout_seconds)
    return DatabaseStore()


async def _housekeeping(store: Store) -> None:
    """Now and then: drops expired sessions, old login failures and API idempotency keys,
    brings derived data up to date after writes made around the portal, and lets SQLite
    refresh stale statistics."""
    while True:
        try:
            if isinstance(store, DatabaseStore):
                await store.delete_expired()
            await throttle.delete_old_failures()
            await jobs.delete_old_files()
            await privacy_export.drop_expired()
            await privacy_retention.queue_daily_runs()
            await api_idempotency.delete_expired()
            await db.refresh_derived_data()
            await db.optimize()
        except Unavailable:
            pass  # logged once as the outage began; the next round tries again
        except Exception:  # a failed clean-up must not stop the next one
            logger.exception("Housekeeping failed")
        await asyncio.sleep(HOUSEKEEPING_INTERVAL_SECONDS)


def create_app() -> Litestar:
    settings = get_settings()
    store = _session_store()

    @contextlib.asynccontextmanager
    async def lifespan(_: Litestar) -> AsyncIterator[None]:
        await db.start()
        task = asyncio.create_task(_housekeeping(store))
        job_runner = asyncio.create_task(jobs.run_forever())
        webhooks = asyncio.create_task(webhook_worker.server_worker())
        # Plugins' background work (e.g. the mass mailer's worker), stopped with the server.
        plugin_tasks = [asyncio.create_task(run()) for run in plugins.background_tasks()]
        try:
            yield
        finally:
            for running in (task, job_runner, webhooks, *plugin_tasks):
                running.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await running
            await db.stop()

    admin_router = Router(
        path="/admin",
        route_handlers=[
            *dashboard_routes.admin_handlers,
            *staff_routes.admin_handlers,
            *client_area_staff_routes.admin_handlers,
            *security_routes.handlers(STAFF_AREA),
            *staff_members_routes.admin_handlers,
            *company_routes.admin_handlers,
            *client_routes.admin_handlers,
            *client_browse_routes.admin_handlers,
            *client_bulk_routes.admin_handlers,
            *client_tag_routes.admin_handlers,
            *client_segment_routes.admin_handlers,
            *client_profile_routes.admin_handlers,
            *client_merge_routes.admin_handlers,
            *client_user_routes.admin_handlers,
            *client_contact_routes.admin_handlers,
            *billing_routes.admin_handlers,
            *client_group_routes.admin_handlers,
            *mail_routes.admin_handlers,
            *activity_routes.admin_handlers,
            *api_routes.admin_handlers,
            *webhook_routes.admin_handlers,
            *job_routes.admin_handlers,
            *import_routes.admin_handlers,
            *privacy_routes.admin_handlers,
            *plugins.admin_handlers(),
        ],
        guards=[require_staff],
        dependencies={"admin": Provide(provide_admin, sync_to_thread=False)},
    )
    templates = template_config()
    plugins.configure_templates(templates)  # [Tools] menu items and template folders
    session_config = PortalSessionConfig(
        key=SESSION_COOKIE,
        max_age=settings.session_idle_seconds,
        secure=settings.secure_cookies,
        httponly=True,
        samesite="lax",
        store=STORE_NAME,
        # Static files, logos and the API (bearer keys, no cookies) neither read nor write
        # sessions.
        exclude=["^/static/", "^/api/", "^/logo/"],
    )
    return Litestar(
        route_handlers=[
            Router(
                path="/admin",
                route_handlers=[
                    *staff_routes.public_handlers,
                    *security_routes.public_handlers(STAFF_AREA),
                ],
            ),
            client_area_routes.public_router,
            *company_routes.public_handlers,
            client_area_routes.client_router,
            privacy_client_routes.client_router,
            *client_routes.fragment_handlers,
            admin_router,
            *plugins.public_handlers(),
            api_routes.api_router(plugins.api_handlers()),
            static_file,
        ],
        lifespan=[lifespan],
        stores={STORE_NAME: store},
        middleware=[
            request_limits_middleware,
            # /api/: bearer keys, no cookies. /unsubscribe/: the one-click link of marketing
            # mail (RFC 8058) is POSTed by mail programs with no cookie and no form token; the
            # unguessable token in the path is the proof, and it can only unsubscribe.
            csrf_middleware(
                secret=settings.secret_key,
                session_cookie=SESSION_COOKIE,
                secure=settings.secure_cookies,
                exclude=["^/api/", "^/unsubscribe/", "^/static/"],
            ),
            session_config.middleware,
            db.read_your_writes,  # reads after a write go to the primary (with a replica)
            language_middleware,
        ],
        template_config=templates,
        request_class=PortalRequest,
        plugins=[
            HTMXPlugin(),
            FlashPlugin(FlashConfig(template_config=templates)),
            RequestBodySchemaPlugin(),
        ],
        exception_handlers={**exception_handlers, SecurityStep: security_step_handler},
        # The OpenAPI schema documents /api/v1 only (its router turns itself back on).
        openapi_config=api_routes.openapi_config(),
        include_in_schema=False,
        before_send=[security_headers_hook(settings.secure_cookies)],
        # Pages and API answers of some size go gzipped to browsers that take it (static files
        # are compressed once, ahead). A light level: most of the gain for little CPU.
        compression_config=CompressionConfig(
            backend="gzip", minimum_size=4096, gzip_compress_level=4, exclude="^/static/"
        ),
        request_max_body_size=MAX_REQUEST_BODY_BYTES,
        multipart_form_part_limit=MAX_FORM_FIELDS,
        debug=settings.debug,
    )
