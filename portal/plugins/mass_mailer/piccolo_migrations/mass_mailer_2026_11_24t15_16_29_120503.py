from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.columns.column_types import Boolean, ForeignKey, Integer, Text, Timestamptz, Varchar

from portal.core.migration_steps import add_table, reference_table

Client = reference_table("Client", "client")
Company = reference_table("Company", "company")
MailingJob = reference_table("MailingJob", "mailer_job")

ID = "2026-11-24T15:16:29:120503"
VERSION = "1.38.0"
DESCRIPTION = "True"


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="mass_mailer", description=DESCRIPTION)

    add_table(
        manager,
        "MailingRecipient",
        "mailer_recipient",
        [
            ("job", ForeignKey, {"references": MailingJob}),
            ("client", ForeignKey, {"references": Client, "index": True}),
            ("email", Varchar, {"length": 254}),
            ("status", Varchar, {"length": 10, "default": "pending"}),
            ("attempts", Integer, {}),
            ("next_attempt_at", Timestamptz, {"default": None, "null": True}),
            ("claimed_by", Varchar, {"length": 40, "default": None, "null": True}),
            ("claimed_at", Timestamptz, {"default": None, "null": True}),
            ("sent_at", Timestamptz, {"default": None, "null": True}),
            ("logged", Boolean, {}),
            ("error", Text, {}),
            ("unsubscribed_at", Timestamptz, {"default": None, "null": True}),
        ],
    )

    add_table(
        manager,
        "MailingJob",
        "mailer_job",
        [
            ("company", ForeignKey, {"references": Company, "index": True}),
            ("kind", Varchar, {"length": 10}),
            ("status", Varchar, {"length": 10, "default": "queued"}),
            ("filter", Text, {}),
            ("from_name", Varchar, {"length": 100}),
            ("from_address", Varchar, {"length": 254}),
            ("subject", Varchar, {}),
            ("body_text", Text, {}),
            ("body_html", Text, {}),
            ("total", Integer, {}),
            ("created_by", Varchar, {"length": 100}),
            ("created_at", Timestamptz, {}),
            ("started_at", Timestamptz, {"default": None, "null": True}),
            ("finished_at", Timestamptz, {"default": None, "null": True}),
        ],
    )

    add_table(
        manager,
        "Suppression",
        "mailer_suppression",
        [
            ("company", ForeignKey, {"references": Company}),
            ("email", Varchar, {"length": 254}),
            ("reason", Varchar, {"length": 12}),
            ("source", Varchar, {"length": 50}),
            ("created_at", Timestamptz, {}),
        ],
    )

    return manager
