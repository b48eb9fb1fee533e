from pathlib import Path

from piccolo.conf.apps import AppConfig

from portal.clients.search import index_pending
from portal.clients.tables import (
    AccountInvitation,
    AccountMember,
    AccountUser,
    Client,
    ClientAudit,
    ClientCount,
    ClientMerge,
    ClientMonthCount,
    ClientNote,
    ClientSearch,
    ClientSearchPending,
    ClientSetting,
    ClientTag,
    ConsentEvent,
    Contact,
    ContactNumber,
    CustomFieldValue,
    EmailVerification,
    Segment,
    Tag,
)
from portal.core.db import before_commit

APP_CONFIG = AppConfig(
    app_name="clients",
    migrations_folder_path=str(Path(__file__).parent / "piccolo_migrations"),
    table_classes=[
        Client,
        AccountUser,
        AccountMember,
        AccountInvitation,
        EmailVerification,
        Contact,
        ContactNumber,
        ConsentEvent,
        CustomFieldValue,
        ClientSetting,
        ClientSearch,
        ClientSearchPending,
        ClientNote,
        ClientAudit,
        ClientCount,
        ClientMonthCount,
        ClientMerge,
        Tag,
        ClientTag,
        Segment,
    ],
    # The events app: consent records emit events through a trigger of these migrations.
    migration_dependencies=[
        "portal.client_groups.piccolo_app",
        "portal.companies.piccolo_app",
        "portal.events.piccolo_app",
    ],
)

# Search documents follow every write: each write transaction rebuilds those the triggers
# queued before it commits. Registered here, where every process that uses the database loads
# the clients app.
before_commit(index_pending)
