import base64
import hashlib
import hmac
import os
import secrets
from pathlib import Path

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.table import Table

ID = "2026-12-02T19:00:00:000001"
VERSION = "1.38.0"
DESCRIPTION = "Unsubscribe links: a random token stored per recipient"

# Links are now a random token stored with each recipient row. Links already in inboxes were
# the row's ID enciphered with a key derived from PORTAL_SECRET_KEY (AES on one block, and an
# HMAC): each row queued before this migration gets exactly that token stored, once, so those
# links keep working; this migration is the only place that still knows how they were made.
BATCH = 1000


def _secret_key() -> str | None:
    """As the portal finds it (portal.core.config), read here without importing the portal."""
    if key := os.environ.get("PORTAL_SECRET_KEY"):
        return key
    key_file = Path(os.environ.get("PORTAL_VAR_DIR", "var")).resolve() / "secret_key"
    return key_file.read_text().strip() if key_file.exists() else None


def _legacy_tokens(secret_key: str):
    key = HKDF(
        algorithm=hashes.SHA256(), length=48, salt=None, info=b"portal: unsubscribe links"
    ).derive(secret_key.encode())
    cipher = Cipher(algorithms.AES(key[:16]), modes.ECB())  # noqa: S305 - as the links were made

    def token(recipient_id: int) -> str:
        encryptor = cipher.encryptor()
        block = encryptor.update(recipient_id.to_bytes(16, "big")) + encryptor.finalize()
        mac = hmac.new(key[16:], block, hashlib.sha256).digest()[:16]
        return base64.urlsafe_b64encode(block + mac).decode().rstrip("=")

    return token


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="mass_mailer", description=DESCRIPTION)

    async def run():
        await Table.raw("ALTER TABLE mailer_recipient ADD COLUMN unsubscribe_token VARCHAR(64)")
        secret_key = _secret_key()
        legacy = _legacy_tokens(secret_key) if secret_key else None
        last_id = 0
        while True:
            rows = await Table.raw(
                "SELECT id FROM mailer_recipient WHERE id > {} ORDER BY id LIMIT {}",
                last_id,
                BATCH,
            )
            if not rows:
                break
            for row in rows:
                token = legacy(row["id"]) if legacy else secrets.token_urlsafe(32)
                await Table.raw(
                    "UPDATE mailer_recipient SET unsubscribe_token = {} WHERE id = {}",
                    token,
                    row["id"],
                )
            last_id = rows[-1]["id"]
        await Table.raw(
            "CREATE UNIQUE INDEX mailer_recipient_unsubscribe_token "
            "ON mailer_recipient (unsubscribe_token)"
        )

    manager.add_raw(run)
    return manager
