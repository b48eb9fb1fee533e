"""Plugins: Python packages that add to the portal, found through the entry-point group
`portal.plugins`.

A package declares its plugin in its own pyproject.toml:

    [project.entry-points."portal.plugins"]
    mass_mailer = "portal.plugins.mass_mailer:plugin"

The entry point names a `Plugin` (or a function returning one). What a plugin can bring:

- `piccolo_apps`: module paths of its Piccolo apps (tables and migrations); they join the app
  registry (`portal.core.db.APPS`) when that module is imported, so `portal migrate` applies
  their migrations after the core's;
- `admin_handlers`: route handlers mounted under `/admin`, behind the staff guard (they get the
  `admin: Admin` dependency like the core's handlers);
- `public_handlers`: route handlers mounted at the root, with no login (e.g. an unsubscribe
  link);
- `api_handlers`: route handlers mounted under `/api/v1`, behind the API key check (they get
  the `api_key: ApiKeyParam` dependency, see portal/api/routes.py) and in its OpenAPI schema;
- `tools_menu`: items of the admin area's [Tools] menu (each shown to staff who hold its
  permission);
- `client_actions`: actions of Browse's and the search results' bulk actions, each the page
  the chosen clients are handed to: its `url` gets either Browse's filters and tab (all the
  clients a Browse view finds) or `client=<ID>` for each client (portal.clients.bulk.
  handoff_query);
- `permissions`: what staff groups can be granted for the plugin's work
  (`portal.core.permissions.Permission`); its routes and services check them like the core's;
- `api_permissions`: what API keys can be granted for its `api_handlers`
  (`portal.api.permissions.ApiPermission`, each standing for one of the staff permissions);
  each API handler names the one it needs (`@get(..., permission=...)`);
- `templates_dir`: a folder added to the template search path after the portal's own; keep the
  plugin's templates under `plugins/<name>/` inside it so names never clash;
- `background_tasks`: coroutine functions the server runs for its lifetime (cancelled at
  shutdown), e.g. a mail worker;
- `cli_commands`: click commands added to the `portal` command;
- `erasure_handlers`: coroutine functions called inside the write transaction that anonymises
  a client (portal.privacy), as `handler(company_id, client_id, emails, actor)` with the
  addresses the client's contacts and logins had: each forgets what the plugin keeps of that
  person (e.g. the mass mailer's recipient rows) and keeps what must outlast them by a hash
  alone (its suppression of the addresses for marketing mail).

Handlers, tasks and commands are given as functions that import them when asked: discovering
plugins (which `portal.core.db` does at import time, for the app registry) must not import the
plugin's routes and services, which themselves import the core.

A plugin uses only the public services of the core (clients, client groups, mail, consent), the
same functions the admin area calls.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from functools import cache
from importlib.metadata import entry_points
from pathlib import Path
from typing import TYPE_CHECKING, Any

from portal.core.permissions import Permission

if TYPE_CHECKING:
    from portal.api.permissions import ApiPermission

logger = logging.getLogger("portal")

ENTRY_POINT_GROUP = "portal.plugins"


# (company_id, client_id, addresses, actor) -> None; see `erasure_handlers` above.
ErasureHandler = Callable[[int, int, Sequence[str], Any], Awaitable[None]]


def _nothing() -> list[Any]:
    return []


@dataclass(frozen=True)
class MenuItem:
    label: str
    url: str
    permission: str | None = None  # shown only to staff who hold it


@dataclass(frozen=True)
class Plugin:
    name: str
    piccolo_apps: Sequence[str] = ()
    tools_menu: Sequence[MenuItem] = ()
    client_actions: Sequence[MenuItem] = ()
    permissions: Sequence[Permission] = ()
    api_permissions: Sequence[ApiPermission] = ()
    templates_dir: Path | None = None
    admin_handlers: Callable[[], Sequence[Any]] = _nothing
    public_handlers: Callable[[], Sequence[Any]] = _nothing
    api_handlers: Callable[[], Sequence[Any]] = _nothing
    background_tasks: Callable[[], Sequence[Callable[[], Awaitable[None]]]] = _nothing
    cli_commands: Callable[[], Sequence[Any]] = _nothing
    erasure_handlers: Callable[[], Sequence[ErasureHandler]] = _nothing
    description: str = field(default="", compare=False)


@cache
def plugins() -> tuple[Plugin, ...]:
    """The installed plugins, in the order of their entry-point names. A plugin that fails to
    load stops the start: a half-loaded install (tables without routes, say) is worse."""
    found: list[Plugin] = []
    for entry_point in sorted(entry_points(group=ENTRY_POINT_GROUP), key=lambda e: e.name):
        loaded = entry_point.load()
        plugin = loaded() if callable(loaded) and not isinstance(loaded, Plugin) else loaded
        if not isinstance(plugin, Plugin):
            raise TypeError(f"entry point {entry_point.value!r} does not give a portal Plugin")
        found.append(plugin)
    return tuple(found)


def piccolo_apps() -> list[str]:
    return [app for plugin in plugins() for app in plugin.piccolo_apps]


def admin_handlers() -> list[Any]:
    return [handler for plugin in plugins() for handler in plugin.admin_handlers()]


def public_handlers() -> list[Any]:
    return [handler for plugin in plugins() for handler in plugin.public_handlers()]


def api_handlers() -> list[Any]:
    return [handler for plugin in plugins() for handler in plugin.api_handlers()]


def tools_menu() -> list[MenuItem]:
    return [item for plugin in plugins() for item in plugin.tools_menu]


def client_actions() -> list[MenuItem]:
    return [item for plugin in plugins() for item in plugin.client_actions]


def permissions() -> list[Permission]:
    return [permission for plugin in plugins() for permission in plugin.permissions]


def api_permissions() -> list[ApiPermission]:
    return [permission for plugin in plugins() for permission in plugin.api_permissions]


def template_dirs() -> list[Path]:
    return [plugin.templates_dir for plugin in plugins() if plugin.templates_dir is not None]


def background_tasks() -> list[Callable[[], Awaitable[None]]]:
    return [task for plugin in plugins() for task in plugin.background_tasks()]


def cli_commands() -> list[Any]:
    return [command for plugin in plugins() for command in plugin.cli_commands()]


def erasure_handlers() -> list[ErasureHandler]:
    return [handler for plugin in plugins() for handler in plugin.erasure_handlers()]


def configure_templates(template_config: Any) -> None:
    """Adds the plugins' [Tools] menu items (the `tools_menu` global of
    templates/admin/layout.html) and template folders to the app's Jinja environment."""
    import jinja2

    from portal.core.config import TEMPLATES_DIR

    previous = template_config.engine_callback
    extra_dirs = [d for d in template_dirs() if d.resolve() != TEMPLATES_DIR.resolve()]
    menu = tools_menu()

    def callback(engine: Any) -> None:
        if previous is not None:
            previous(engine)
        environment = engine.engine
        environment.globals["tools_menu"] = menu
        if extra_dirs:
            environment.loader = jinja2.ChoiceLoader(
                [environment.loader, jinja2.FileSystemLoader([str(d) for d in extra_dirs])]
            )

    template_config.engine_callback = callback
