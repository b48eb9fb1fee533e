from pathlib import Path

from piccolo.conf.apps import AppConfig

from portal.security.tables import LoginSession, Passkey, PasskeyChallenge, RecoveryCode, TwoFactor

APP_CONFIG = AppConfig(
    app_name="security",
    migrations_folder_path=str(Path(__file__).parent / "piccolo_migrations"),
    table_classes=[TwoFactor, RecoveryCode, Passkey, PasskeyChallenge, LoginSession],
    migration_dependencies=["portal.core.piccolo_app"],
)
