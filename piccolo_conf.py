"""Piccolo's configuration: the engine comes from PORTAL_DATABASE_URL (see portal.core.db)."""

from piccolo.conf.apps import AppRegistry

from portal.core.db import APPS, create_engine

DB = create_engine()

APP_REGISTRY = AppRegistry(apps=APPS)
