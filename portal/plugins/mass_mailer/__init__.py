"""The mass mailer plugin: [Tools] > Mass Mailer (filter, compose, preview, send), the mail
worker, the unsubscribe link and the CSV export of a filter's recipients.

Declared in pyproject.toml under the entry-point group `portal.plugins`. Nothing here imports
the plugin's routes or services until the app asks for them (see portal/plugins/__init__.py).
"""

from __future__ import annotations

from pathlib import Path

from portal.api.permissions import ApiPermission
from portal.core.permissions import Permission
from portal.plugins import MenuItem, Plugin

MAILER_COMPOSE = "mailer.compose"
MAILER_SEND = "mailer.send"
MARKETING_READ = "marketing.read"  # API: the opted-in clients
MARKETING_WRITE = "marketing.write"  # API: report unsubscribes and bounces

# The portal's own templates folder holds this plugin's templates, under plugins/mass_mailer/.
TEMPLATES_DIR = Path(__file__).resolve().parents[3] / "templates"


def _admin_handlers() -> list:
    from portal.plugins.mass_mailer.routes import admin_handlers

    return admin_handlers


def _public_handlers() -> list:
    from portal.plugins.mass_mailer.routes import public_handlers

    return public_handlers


def _api_handlers() -> list:
    from portal.plugins.mass_mailer.api import api_handlers

    return api_handlers


def _background_tasks() -> list:
    from portal.plugins.mass_mailer.worker import server_worker

    return [server_worker]


def _cli_commands() -> list:
    from portal.plugins.mass_mailer.worker import mailer_command

    return [mailer_command]


def _erasure_handlers() -> list:
    from portal.plugins.mass_mailer.services import forget_client

    return [forget_client]


plugin = Plugin(
    name="mass_mailer",
    description="Mass Mailer: mail clients by filter; marketing mail only to those who opted in.",
    piccolo_apps=("portal.plugins.mass_mailer.piccolo_app",),
    tools_menu=(
        MenuItem(label="Mass Mailer", url="/admin/tools/mass-mailer", permission=MAILER_COMPOSE),
    ),
    client_actions=(
        MenuItem(
            label="Send to Mass Mailer",
            url="/admin/tools/mass-mailer/from-clients",
            permission=MAILER_COMPOSE,
        ),
    ),
    permissions=(
        Permission(MAILER_COMPOSE, "Mass mailer", "Filter, export and compose mailings"),
        Permission(MAILER_SEND, "Mass mailer", "Send and cancel mailings"),
    ),
    api_permissions=(
        ApiPermission(MARKETING_READ, "Read marketing opt-ins", MAILER_COMPOSE),
        ApiPermission(MARKETING_WRITE, "Report unsubscribes and bounces", MAILER_SEND),
    ),
    templates_dir=TEMPLATES_DIR,
    admin_handlers=_admin_handlers,
    public_handlers=_public_handlers,
    api_handlers=_api_handlers,
    background_tasks=_background_tasks,
    cli_commands=_cli_commands,
    erasure_handlers=_erasure_handlers,
)
