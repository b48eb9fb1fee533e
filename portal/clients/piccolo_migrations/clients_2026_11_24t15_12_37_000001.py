from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.table import Table

ID = "2026-11-24T15:12:37:000001"
VERSION = "1.38.0"
DESCRIPTION = "client search indexes"

# Substring search over client_search.document, each engine its own way; both kinds of object
# are named client_search_fts* (tests/test_migrations.py leaves them out of the comparison).
SQLITE_STATEMENTS = [
    # External content: the text lives once, in client_search; FTS5 keeps only its index.
    "CREATE VIRTUAL TABLE client_search_fts USING fts5("
    "document, content='client_search', content_rowid='id', tokenize='trigram')",
    # FTS5's documented sync triggers: the index changes in the transaction of the write.
    "CREATE TRIGGER client_search_fts_insert AFTER INSERT ON client_search BEGIN "
    "INSERT INTO client_search_fts(rowid, document) VALUES (new.id, new.document); END",
    "CREATE TRIGGER client_search_fts_delete AFTER DELETE ON client_search BEGIN "
    "INSERT INTO client_search_fts(client_search_fts, rowid, document) "
    "VALUES ('delete', old.id, old.document); END",
    "CREATE TRIGGER client_search_fts_update AFTER UPDATE ON client_search BEGIN "
    "INSERT INTO client_search_fts(client_search_fts, rowid, document) "
    "VALUES ('delete', old.id, old.document); "
    "INSERT INTO client_search_fts(rowid, document) VALUES (new.id, new.document); END",
]
POSTGRES_STATEMENTS = [
    "CREATE EXTENSION IF NOT EXISTS pg_trgm",
    "CREATE INDEX client_search_fts_trgm ON client_search USING gin (document gin_trgm_ops)",
]


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="clients", description=DESCRIPTION)

    async def create_search_indexes():
        engine_type = Table._meta.db.engine_type
        for statement in SQLITE_STATEMENTS if engine_type == "sqlite" else POSTGRES_STATEMENTS:
            await Table.raw(statement)
        # Clients stored before this migration are queued for their search documents by
        # migration 2026-12-02T18:00:00:000001.

    manager.add_raw(create_search_indexes)
    return manager
