from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.table import Table

ID = "2026-12-04T00:00:01:000001"
VERSION = "1.38.0"
DESCRIPTION = "Logins move from the client to its owner, a user of the account"

# Each client's login (username, password, sessions, last login) becomes a user of the same ID,
# owner of the account, and its primary contact's login. The client keeps no credentials. The
# search documents hold the usernames of an account's users, so the queue follows users and
# memberships instead of client.username.
MOVE = [
    'INSERT INTO account_user (id, company, username, email, name, password_hash, language, '
    "session_epoch, created_at, last_login_at, last_login_ip) "
    "SELECT c.id, c.company, c.username, ct.email, trim(ct.first_name || ' ' || ct.last_name), "
    "c.password_hash, c.language, c.session_epoch, c.created_at, c.last_login_at, "
    "c.last_login_ip FROM client c "
    "JOIN contact ct ON ct.client = c.id AND ct.contact_type = 'primary'",
    'INSERT INTO account_member ("user", client, owner, permissions, created_at) '
    "SELECT id, id, true, '', created_at FROM client",
    "UPDATE contact SET login = client WHERE contact_type = 'primary'",
    "CREATE UNIQUE INDEX account_user_username_ci ON account_user (company, lower(username))",
    "CREATE INDEX account_user_email_ci ON account_user (lower(email))",
    'CREATE UNIQUE INDEX account_member_user_client ON account_member ("user", client)',
    "CREATE UNIQUE INDEX account_member_owner ON account_member (client) WHERE owner",
    "CREATE INDEX account_invitation_client_email ON account_invitation (client, lower(email))",
    "DROP INDEX client_username_ci",
]
DROP = [
    f"ALTER TABLE client DROP COLUMN {column}"
    for column in ("username", "password_hash", "session_epoch", "last_login_at", "last_login_ip")
]

SQLITE = [
    "DROP TRIGGER client_search_account",
    """CREATE TRIGGER client_search_account AFTER UPDATE OF code, company ON client
    BEGIN INSERT INTO client_search_pending (client) VALUES (NEW.id); END""",
    """CREATE TRIGGER client_search_user AFTER UPDATE OF username ON account_user BEGIN
        INSERT INTO client_search_pending (client)
        SELECT client FROM account_member WHERE "user" = NEW.id;
    END""",
    """CREATE TRIGGER client_search_member_in AFTER INSERT ON account_member
    BEGIN INSERT INTO client_search_pending (client) VALUES (NEW.client); END""",
    """CREATE TRIGGER client_search_member_out AFTER DELETE ON account_member
    BEGIN INSERT INTO client_search_pending (client) VALUES (OLD.client); END""",
]

POSTGRES = [
    "SELECT setval(pg_get_serial_sequence('account_user', 'id'), "
    "coalesce(max(id), 0) + 1, false) FROM account_user",
    # TG_ARGV[0] names how a row of the table leads to its client (as before, plus 'user').
    """CREATE OR REPLACE FUNCTION client_search_stale() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        IF TG_ARGV[0] = 'account' THEN
            INSERT INTO client_search_pending (client)
            SELECT n.id FROM new_rows n JOIN old_rows o ON o.id = n.id
            WHERE (n.code, n.company) IS DISTINCT FROM (o.code, o.company);
        ELSIF TG_ARGV[0] = 'user' THEN
            INSERT INTO client_search_pending (client)
            SELECT m.client FROM new_rows n JOIN old_rows o ON o.id = n.id
            JOIN account_member m ON m."user" = n.id
            WHERE n.username IS DISTINCT FROM o.username;
        ELSIF TG_ARGV[0] = 'field' THEN
            INSERT INTO client_search_pending (client)
            SELECT v.client FROM new_rows n JOIN old_rows o ON o.id = n.id
            JOIN custom_field_value v ON v.field = n.id
            WHERE (n.encrypted, n.field_type) IS DISTINCT FROM (o.encrypted, o.field_type);
        ELSIF TG_ARGV[0] = 'number' THEN
            IF TG_OP <> 'DELETE' THEN
                INSERT INTO client_search_pending (client)
                SELECT DISTINCT ct.client FROM new_rows n JOIN contact ct ON ct.id = n.contact;
            END IF;
            IF TG_OP <> 'INSERT' THEN
                INSERT INTO client_search_pending (client)
                SELECT DISTINCT ct.client FROM old_rows o JOIN contact ct ON ct.id = o.contact;
            END IF;
        ELSE
            IF TG_OP <> 'DELETE' THEN
                INSERT INTO client_search_pending (client) SELECT DISTINCT client FROM new_rows;
            END IF;
            IF TG_OP <> 'INSERT' THEN
                INSERT INTO client_search_pending (client) SELECT DISTINCT client FROM old_rows;
            END IF;
        END IF;
        RETURN NULL;
    END $$""",
    "CREATE TRIGGER client_search_user AFTER UPDATE ON account_user "
    "REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows "
    "FOR EACH STATEMENT EXECUTE FUNCTION client_search_stale('user')",
    "CREATE TRIGGER client_search_member_in AFTER INSERT ON account_member "
    "REFERENCING NEW TABLE AS new_rows "
    "FOR EACH STATEMENT EXECUTE FUNCTION client_search_stale('member')",
    "CREATE TRIGGER client_search_member_out AFTER DELETE ON account_member "
    "REFERENCING OLD TABLE AS old_rows "
    "FOR EACH STATEMENT EXECUTE FUNCTION client_search_stale('member')",
]


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="clients", description=DESCRIPTION)

    async def run():
        engine_type = Table._meta.db.engine_type
        for statement in MOVE + (SQLITE if engine_type == "sqlite" else POSTGRES) + DROP:
            await Table.raw(statement)

    manager.add_raw(run)
    return manager
