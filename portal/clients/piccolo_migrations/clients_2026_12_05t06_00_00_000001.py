"""Browse sorts by name through a collation key beside each client's search document
(portal.clients.search.name_key: accents and case folded away, so Álvaro sorts between
Alvarez and Amador), compared byte by byte on both engines. Every client is queued for its
document to be rebuilt with the key (the next write transaction, or the server's housekeeping
at start, does it)."""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.table import Table

ID = "2026-12-05T06:00:00:000001"
VERSION = "1.38.0"
DESCRIPTION = "A name collation key for Browse's name sort"

COLUMN = {
    "sqlite": "ALTER TABLE client_search ADD COLUMN name_key TEXT NOT NULL DEFAULT ''",
    # "C": byte order, as SQLite compares, whatever the database's locale.
    "postgres": 'ALTER TABLE client_search ADD COLUMN name_key TEXT COLLATE "C" NOT NULL '
    "DEFAULT ''",
}
STATEMENTS = [
    "CREATE INDEX client_search_name ON client_search (company, name_key, client)",
    "INSERT INTO client_search_pending (client) SELECT id FROM client",
]


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="clients", description=DESCRIPTION)

    async def run():
        await Table.raw(COLUMN[Table._meta.db.engine_type])
        for statement in STATEMENTS:
            await Table.raw(statement)

    manager.add_raw(run)
    return manager
