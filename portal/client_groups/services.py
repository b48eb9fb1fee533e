"""Client groups: their settings (each follows the company or overrides it), their custom
client fields, and the values clients have for those fields.

`effective_settings` is the one place where a setting's value is decided:
client → group → company → built-in default.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import Any

from portal.activity import services as activity
from portal.client_groups.tables import ClientGroup, ClientGroupSetting, CustomField
from portal.clients import counts, fields
from portal.clients.tables import Client, ClientSetting, CustomFieldValue
from portal.companies.tables import Company, CompanySetting
from portal.core.actors import Actor
from portal.core.crypto import decrypt, encrypt, is_encrypted
from portal.core.db import (
    insert_rows,
    locked,
    read_transaction,
    write_transactions,
)
from portal.core.errors import NotFound, ValidationError
from portal.core.forms import REQUIRED, TOO_LONG, Field, iso_date
from portal.core.i18n import N_, Message
from portal.core.lookups import company_row
from portal.core.patterns import full_match, pattern_problem
from portal.core.permissions import CLIENT_GROUPS, COMPANY_SETTINGS
from portal.core.unique import taken_as_invalid


async def _log(company_id: int, actor: Actor, message: str) -> None:
    """A change of the client groups or their fields, in the activity log."""
    await activity.record(company_id, actor, "client_groups", message)


# --- settings -------------------------------------------------------------------------------

# Contact fields a group can require, show to clients, or make read-only for clients: name ->
# label.
CONTACT_FIELDS: dict[str, str] = {
    **{field.name: field.label for field in fields.CONTACT_FIELDS},
    "phone": fields.PHONE,
    "fax": fields.FAX,
}
ALWAYS_REQUIRED = frozenset({"first_name", "last_name", "email"})
UNIQUE_EMAIL_CHOICES = {"no": "No", "primary": "Primary contacts", "all": "All contacts"}


def _field_set(value: str) -> frozenset[str]:
    return frozenset(item for item in value.split(",") if item in CONTACT_FIELDS)


def _check_field_set(value: str) -> str | None:
    unknown = [item for item in value.split(",") if item and item not in CONTACT_FIELDS]
    return f"Unknown fields: {', '.join(unknown)}." if unknown else None


INTEGER = re.compile(r"-?[0-9]{1,12}")


def _check_int(minimum: int) -> Callable[[str], str | None]:
    def check(value: str) -> str | None:
        # ASCII digits only: str.isdigit() accepts "²" and int() then fails (a 500).
        if not INTEGER.fullmatch(value) or int(value) < minimum:
            return f"Enter a whole number of at least {minimum}."
        if int(value) > 2_000_000_000:
            return "Enter a smaller number."
        return None

    return check


def _check_format(value: str) -> str | None:
    if "{num}" not in value:
        return "The format must contain {num}, where the number goes."
    if len(value) > 64:
        return "The format is too long (at most 64 characters)."
    return None


def _check_yes_no(value: str) -> str | None:
    return None if value in {"true", "false"} else "Choose yes or no."


@dataclass(frozen=True)
class SettingSpec:
    key: str
    label: str
    default: str  # every value is stored as text
    check: Callable[[str], str | None]


SETTINGS: dict[str, SettingSpec] = {
    spec.key: spec
    for spec in (
        SettingSpec("required_fields", "Required contact fields", "", _check_field_set),
        SettingSpec(
            "shown_fields",
            "Contact fields shown to clients",
            ",".join(CONTACT_FIELDS),
            _check_field_set,
        ),
        SettingSpec(
            "read_only_fields", "Contact fields clients cannot change", "", _check_field_set
        ),
        SettingSpec(
            "usernames_must_be_emails",
            "Usernames must be email addresses",
            "false",
            _check_yes_no,
        ),
        SettingSpec(
            "unique_contact_emails",
            "Unique contact emails",
            "no",
            lambda v: None if v in UNIQUE_EMAIL_CHOICES else "Choose one of the options.",
        ),
        SettingSpec(
            "email_verification",
            "Users must verify their email address",
            "false",
            _check_yes_no,
        ),
        SettingSpec(
            "require_two_factor",
            "Users must sign in with two-factor authentication",
            "false",
            _check_yes_no,
        ),
        SettingSpec("client_id_format", "Client ID format", "{num}", _check_format),
        SettingSpec("client_id_start", "Client ID start", "1500", _check_int(0)),
        SettingSpec("client_id_increment", "Client ID increment", "1", _check_int(1)),
    )
}
# Company-level values of these keys live in the company's own columns.
COMPANY_COLUMNS = {
    "client_id_format": Company.client_id_format,
    "client_id_start": Company.client_id_start,
    "client_id_increment": Company.client_id_increment,
}


@dataclass(frozen=True)
class EffectiveSettings:
    """The settings that apply, and where each value came from (client/group/company/default)."""

    values: dict[str, str]
    sources: dict[str, str]

    @property
    def required_fields(self) -> frozenset[str]:
        return _field_set(self.values["required_fields"]) | ALWAYS_REQUIRED

    @property
    def shown_fields(self) -> frozenset[str]:
        return _field_set(self.values["shown_fields"]) | ALWAYS_REQUIRED

    @property
    def read_only_fields(self) -> frozenset[str]:
        return _field_set(self.values["read_only_fields"])

    @property
    def usernames_must_be_emails(self) -> bool:
        return self.values["usernames_must_be_emails"] == "true"

    @property
    def email_verification(self) -> bool:
        return self.values["email_verification"] == "true"

    @property
    def unique_contact_emails(self) -> str:
        return self.values["unique_contact_emails"]

    @property
    def client_id_format(self) -> str:
        return self.values["client_id_format"]

    @property
    def client_id_start(self) -> int:
        return int(self.values["client_id_start"])

    @property
    def client_id_increment(self) -> int:
        return int(self.values["client_id_increment"])


async def company_setting_values(company_id: int) -> dict[str, str]:
    """The company's own values (no defaults filled in)."""
    company = (
        await Company.select(*COMPANY_COLUMNS.values()).where(Company.id == company_id).first()
    )
    if company is None:
        raise NotFound()
    rows = await CompanySetting.select(CompanySetting.key, CompanySetting.value).where(
        CompanySetting.company == company_id, CompanySetting.key.is_in(list(SETTINGS))
    )
    values = {row["key"]: row["value"] for row in rows}
    values.update({key: str(company[column._meta.name]) for key, column in COMPANY_COLUMNS.items()})
    return values


async def group_overrides(group_id: int) -> dict[str, str]:
    rows = await ClientGroupSetting.select(ClientGroupSetting.key, ClientGroupSetting.value).where(
        ClientGroupSetting.group == group_id, ClientGroupSetting.key.is_in(list(SETTINGS))
    )
    return {row["key"]: row["value"] for row in rows}


async def effective_settings(
    company_id: int, group_id: int | None = None, client_id: int | None = None
) -> EffectiveSettings:
    """The value of every setting for a client, a group, or the company: the most specific
    level that has one wins (client → group → company → built-in default)."""
    async with read_transaction():
        levels = [("company", await company_setting_values(company_id))]
        if group_id is not None:
            levels.append(("group", await group_overrides(group_id)))
        if client_id is not None:
            rows = await ClientSetting.select(ClientSetting.key, ClientSetting.value).where(
                ClientSetting.client == client_id
            )
            levels.append(("client", {row["key"]: row["value"] for row in rows}))
    values = {key: spec.default for key, spec in SETTINGS.items()}
    sources = dict.fromkeys(SETTINGS, "default")
    for level, level_values in levels:
        for key, value in level_values.items():
            if key in SETTINGS:
                values[key], sources[key] = value, level
    return EffectiveSettings(values=values, sources=sources)


def setting_sql(key: str, client: str = "c") -> str:
    """SQL of a setting's effective value for each client row of the alias `client` (which
    has the columns id, "group" and company), decided as `effective_settings` decides it:
    the client's own value, else its group's, else its company's, else the default. For
    queries over many clients (the mass mailer) and for one user's accounts at once. Settings
    kept in the company's own columns (COMPANY_COLUMNS) are not covered."""
    spec = SETTINGS[key]
    if key in COMPANY_COLUMNS or not key.isidentifier() or "'" in spec.default:
        raise ValueError(f"setting_sql does not cover {key!r}")
    # The key and the default are the code's own constants (checked above), never input.
    return (
        f"COALESCE((SELECT cs_.value FROM client_setting cs_ WHERE cs_.client = {client}.id "  # noqa: S608 - constants only
        f"AND cs_.key = '{key}'), "
        f'(SELECT gs_.value FROM client_group_setting gs_ WHERE gs_."group" = {client}."group" '
        f"AND gs_.key = '{key}'), "
        f"(SELECT ks_.value FROM company_setting ks_ WHERE ks_.company = {client}.company "
        f"AND ks_.key = '{key}'), '{spec.default}')"
    )


async def on_for_user(key: str, user_id: int) -> bool:
    """Whether a yes/no setting is on for any of the client accounts a user belongs to."""
    rows = await ClientSetting.raw(
        "SELECT 1 AS found FROM account_member m JOIN client c ON c.id = m.client "  # noqa: S608 - constants and a placeholder
        f"WHERE m.\"user\" = {{}} AND {setting_sql(key)} = 'true' LIMIT 1",
        user_id,
    )
    return bool(rows)


def check_settings(values: dict[str, str]) -> dict[str, str]:
    """Errors by setting key for the given values."""
    errors = {}
    for key, value in values.items():
        spec = SETTINGS.get(key)
        if spec is None:
            errors[key] = "Unknown setting."
        elif problem := spec.check(value):
            errors[key] = problem
    return errors


async def set_company_settings(company_id: int, values: dict[str, str], actor: Actor) -> None:
    """Company-level values; every group that follows the company follows the change."""
    actor.require(COMPANY_SETTINGS)
    if errors := check_settings(values):
        raise ValidationError(errors)
    async for transaction in write_transactions():
        async with transaction:
            await activity.record(
                company_id, actor, "settings", f"Changed the client settings: {_keys(values)}."
            )
            column_values = {
                COMPANY_COLUMNS[k]: (int(v) if k != "client_id_format" else v)
                for k, v in values.items()
                if k in COMPANY_COLUMNS
            }
            if column_values:
                await Company.update(column_values).where(Company.id == company_id)
            for key, value in values.items():
                if key in COMPANY_COLUMNS:
                    continue
                await CompanySetting.put(company_id, key, value)


async def set_group_settings(
    company_id: int, group_id: int, overrides: dict[str, str | None], actor: Actor
) -> None:
    """Per key: a value overrides the company's; None makes the group follow the company."""
    actor.require(CLIENT_GROUPS)
    group = await get_group(company_id, group_id)
    if errors := check_settings({k: v for k, v in overrides.items() if v is not None}):
        raise ValidationError(errors)
    async for transaction in write_transactions():
        async with transaction:
            await _write_group_settings(group_id, overrides)
            await _log(
                company_id,
                actor,
                f"Changed the settings of the client group {group['name']}: {_keys(overrides)}.",
            )


async def _write_group_settings(group_id: int, overrides: dict[str, str | None]) -> None:
    for key, value in overrides.items():
        await ClientGroupSetting.delete().where(
            ClientGroupSetting.group == group_id, ClientGroupSetting.key == key
        )
        if value is not None:
            await ClientGroupSetting.insert(
                ClientGroupSetting(group=group_id, key=key, value=value)
            )


# --- groups ---------------------------------------------------------------------------------

COLOUR = re.compile(r"^#[0-9a-fA-F]{6}$")
GROUP_NAME = Field("name", "Name", 100, required=True)
GROUP_DESCRIPTION = Field("description", "Description", 2000)


@dataclass
class GroupDetails:
    name: str = ""
    description: str = ""
    colour: str = "#1f6feb"
    # setting key -> value, or None to follow the company
    overrides: dict[str, str | None] = field(default_factory=dict)


def _check_group(details: GroupDetails) -> dict[str, str]:
    errors: dict[str, str] = {}
    GROUP_NAME.check(errors, details.name.strip())
    GROUP_DESCRIPTION.check(errors, details.description)
    if not COLOUR.match(details.colour):
        errors["colour"] = "Choose a colour like #1f6feb."
    errors.update(
        {
            f"setting_{k}": v
            for k, v in check_settings(
                {k: v for k, v in details.overrides.items() if v is not None}
            ).items()
        }
    )
    return errors


def _name_taken() -> AbstractContextManager[None]:
    return taken_as_invalid(
        "client_group_company_name", {"name": "This company already has a group with this name."}
    )


def _group_values(details: GroupDetails) -> dict[str, Any]:
    return {
        "name": details.name.strip(),
        "description": details.description,
        "colour": details.colour.lower(),
    }


async def list_groups(company_id: int, *, with_counts: bool = True) -> list[dict]:
    """The company's groups, the default first, with their number of clients (`client_count`)
    unless not needed."""
    async with read_transaction():
        groups = await ClientGroup.raw(
            "SELECT id, name, description, colour, is_default FROM client_group "
            "WHERE company = {} ORDER BY is_default DESC, lower(name)",
            company_id,
        )
        if with_counts:
            tally = await counts.tally(company_id)
            for group in groups:
                group["client_count"] = sum(
                    clients for (group_id, _), clients in tally.items() if group_id == group["id"]
                )
    return groups


async def get_group(company_id: int, group_id: int) -> dict:
    return await company_row(ClientGroup, company_id, group_id)


async def default_group_id(company_id: int) -> int:
    row = (
        await ClientGroup.select(ClientGroup.id)
        .where(ClientGroup.company == company_id, ClientGroup.is_default.eq(True))
        .first()
    )
    if row is None:
        raise NotFound()
    return row["id"]


def _keys(values: dict) -> str:
    return ", ".join(SETTINGS[key].label if key in SETTINGS else key for key in values) or "none"


async def create_group(company_id: int, details: GroupDetails, actor: Actor) -> int:
    actor.require(CLIENT_GROUPS)
    if errors := _check_group(details):
        raise ValidationError(errors)
    with _name_taken():
        async for transaction in write_transactions():
            async with transaction:
                rows = await ClientGroup.insert(
                    ClientGroup(company=company_id, **_group_values(details))
                ).returning(ClientGroup.id)
                await _write_group_settings(rows[0]["id"], details.overrides)
                await _log(company_id, actor, f"Created the client group {details.name.strip()}.")
    return rows[0]["id"]


async def update_group(company_id: int, group_id: int, details: GroupDetails, actor: Actor) -> None:
    actor.require(CLIENT_GROUPS)
    await get_group(company_id, group_id)
    if errors := _check_group(details):
        raise ValidationError(errors)
    with _name_taken():
        async for transaction in write_transactions():
            async with transaction:
                await ClientGroup.update(_group_values(details)).where(
                    ClientGroup.id == group_id, ClientGroup.company == company_id
                )
                await _write_group_settings(group_id, details.overrides)
                await _log(company_id, actor, f"Edited the client group {details.name.strip()}.")


async def delete_group(company_id: int, group_id: int, actor: Actor) -> int:
    """Deletes a group that is not the default; its clients move to the default group in the
    same transaction. Returns how many clients moved."""
    actor.require(CLIENT_GROUPS)
    async for transaction in write_transactions():
        async with transaction:
            # Held first: a client added to the group, or moved into it, meanwhile waits, and
            # then finds the group gone, rather than keeping the group from being deleted.
            await locked(ClientGroup.select(ClientGroup.id).where(ClientGroup.id == group_id))
            group = await get_group(company_id, group_id)
            if group["is_default"]:
                raise ValidationError({"": "The default group cannot be deleted."})
            default_id = await default_group_id(company_id)
            moved = (
                await Client.update({Client.group: default_id, Client.version: Client.version + 1})
                .where(Client.group == group_id)
                .returning(Client.id)
            )
            await ClientGroup.delete().where(ClientGroup.id == group_id)
            await _log(
                company_id,
                actor,
                f"Deleted the client group {group['name']}; {len(moved)} clients moved to the "
                "default group.",
            )
    return len(moved)


async def count_group_clients(company_id: int, group_id: int) -> int:
    await get_group(company_id, group_id)
    return sum((await counts.tally(company_id, group_id=group_id)).values())


# --- custom fields --------------------------------------------------------------------------

FIELD_TYPES = {
    "textbox": "Textbox",
    "checkbox": "Checkbox",
    "select": "Dropdown",
    "textarea": "Textarea",
    "date": "Date",
    "number": "Number",
}
REQUIRED_CHOICES = {"no": "No", "yes": "Yes", "regex": "Custom Regex"}
FIELD_LABEL = Field("label", "Label", 100, required=True)
MAX_OPTIONS = 5000
MAX_VALUE_LENGTH = {"textarea": 5000}
DEFAULT_MAX_VALUE_LENGTH = 255


@dataclass
class FieldDetails:
    label: str = ""
    field_type: str = "textbox"
    options: str = ""
    required: str = "no"
    regex: str = ""
    visible_to_client: bool = False
    read_only_for_client: bool = False
    encrypted: bool = False
    default_value: str = ""

    @property
    def option_list(self) -> list[str]:
        return [line.strip() for line in self.options.splitlines() if line.strip()]


def field_details(row: dict) -> FieldDetails:
    return FieldDetails(**{name: row[name] for name in FieldDetails.__dataclass_fields__})


# What a number input sends (HTML's valid floating-point number), in ASCII digits, with an
# exponent of at most three digits.
PLAIN_NUMBER = re.compile(r"-?([0-9]+(\.[0-9]+)?|\.[0-9]+)([eE][-+]?[0-9]{1,3})?")


def value_problem(details: FieldDetails, value: str, *, check_required: bool = True) -> str | None:
    """Why `value` is not acceptable for the field, or None. The field's own rule: its type,
    its options, its regex; and, unless told otherwise, that it is filled in when required."""
    label = details.label  # the staff's own words: not in the catalogs
    if not value:
        if check_required and details.required == "yes":
            return Message(REQUIRED, label=label)
        if details.required == "regex" and check_required and not full_match(details.regex, ""):
            return Message(REQUIRED, label=label)
        return None
    limit = MAX_VALUE_LENGTH.get(details.field_type, DEFAULT_MAX_VALUE_LENGTH)
    if len(value) > limit:
        return Message(TOO_LONG, label=label, max_length=limit)
    if details.field_type == "checkbox" and value != "1":
        return Message(N_("%(label)s: tick the box or leave it empty."), label=label)
    if details.field_type == "select" and value not in details.option_list:
        return Message(N_("%(label)s: choose one of the options."), label=label)
    # As a date or number input sends them, and can show them again.
    if details.field_type == "date" and iso_date(value) is None:
        return Message(N_("%(label)s: enter a date as YYYY-MM-DD."), label=label)
    if details.field_type == "number" and not PLAIN_NUMBER.fullmatch(value):
        return Message(N_("%(label)s: enter a number."), label=label)
    if details.required == "regex":
        matches = full_match(details.regex, value)
        if matches is None:
            return Message(
                N_("%(label)s cannot be checked now: its format needs correcting by staff."),
                label=label,
            )
        if not matches:
            return Message(N_("%(label)s is not in the expected format."), label=label)
    return None


def _check_field(details: FieldDetails) -> dict[str, str]:
    errors: dict[str, str] = {}
    FIELD_LABEL.check(errors, details.label.strip())
    if details.field_type not in FIELD_TYPES:
        errors["field_type"] = "Choose a field type from the list."
    if details.required not in REQUIRED_CHOICES:
        errors["required"] = "Choose No, Yes or Custom Regex."
    if details.field_type == "select" and not details.option_list:
        errors["options"] = "A dropdown needs at least one option (one a line)."
    if len(details.options) > MAX_OPTIONS:
        errors["options"] = f"Options are too long (at most {MAX_OPTIONS} characters)."
    if details.required == "regex":
        if not details.regex:
            errors["regex"] = "Enter the regular expression values must match."
        elif problem := pattern_problem(details.regex):
            errors["regex"] = problem
    if not errors and details.default_value:
        if problem := value_problem(details, details.default_value, check_required=False):
            errors["default_value"] = f"The default value does not fit the field: {problem}"
    return errors


async def list_fields(company_id: int, group_id: int) -> list[dict]:
    """The group's custom fields in their order; `needs_value` tells whether an empty value is
    refused (a required field, or a regex field whose pattern an empty value does not match),
    for the forms' required marks."""
    rows = (
        await CustomField.select()
        .where(CustomField.company == company_id, CustomField.group == group_id)
        .order_by(CustomField.position)
        .order_by(CustomField.id)
    )
    for row in rows:
        row["needs_value"] = row["required"] == "yes" or (
            row["required"] == "regex" and full_match(row["regex"], "") is False
        )
    return rows


async def get_field(company_id: int, field_id: int) -> dict:
    return await company_row(CustomField, company_id, field_id)


def _field_values(details: FieldDetails) -> dict[str, Any]:
    return {
        "label": details.label.strip(),
        "field_type": details.field_type,
        "options": "\n".join(details.option_list),
        "required": details.required,
        "regex": details.regex if details.required == "regex" else "",
        "visible_to_client": details.visible_to_client,
        "read_only_for_client": details.read_only_for_client,
        "encrypted": details.encrypted,
        "default_value": details.default_value,
    }


async def create_field(company_id: int, group_id: int, details: FieldDetails, actor: Actor) -> int:
    actor.require(CLIENT_GROUPS)
    group = await get_group(company_id, group_id)
    if errors := _check_field(details):
        raise ValidationError(errors)
    async for transaction in write_transactions():
        async with transaction:
            last = (
                await CustomField.select(CustomField.position)
                .where(CustomField.group == group_id)
                .order_by(CustomField.position, ascending=False)
                .first()
            )
            rows = await CustomField.insert(
                CustomField(
                    company=company_id,
                    group=group_id,
                    position=(last["position"] + 1) if last else 0,
                    **_field_values(details),
                )
            ).returning(CustomField.id)
            await _log(
                company_id, actor, f"Added the custom field {details.label} to {group['name']}."
            )
    return rows[0]["id"]


async def update_field(company_id: int, field_id: int, details: FieldDetails, actor: Actor) -> None:
    """Saves the field. When Encrypted is turned on or off, the values already stored follow
    at once (and the clients' search documents with them: an encrypted value is never
    searchable)."""
    actor.require(CLIENT_GROUPS)
    await get_field(company_id, field_id)
    if errors := _check_field(details):
        raise ValidationError(errors)
    async for transaction in write_transactions():
        async with transaction:
            # Encrypted as it is now, the field's row locked until commit: clients' values being
            # saved meanwhile (save_custom_values) wait for the new setting rather than follow the
            # old one, and so does another change of the field.
            current = (await _encrypted_fields([field_id], lock="UPDATE")).get(field_id)
            if current is None:
                raise NotFound()  # deleted meanwhile
            await CustomField.update(_field_values(details)).where(
                CustomField.id == field_id, CustomField.company == company_id
            )
            await _log(company_id, actor, f"Edited the custom field {details.label}.")
            if details.encrypted != current:
                stored = await CustomFieldValue.select(
                    CustomFieldValue.id, CustomFieldValue.client, CustomFieldValue.value
                ).where(CustomFieldValue.field == field_id)
                for row in stored:
                    plain = decrypt(row["value"])
                    if not plain and is_encrypted(row["value"]):
                        continue  # not readable with this key: kept as it is rather than lost
                    await CustomFieldValue.update(
                        {CustomFieldValue.value: encrypt(plain) if details.encrypted else plain}
                    ).where(CustomFieldValue.id == row["id"])


async def delete_field(company_id: int, field_id: int, actor: Actor) -> None:
    """The field and every client's value of it, also in the clients' search documents."""
    actor.require(CLIENT_GROUPS)
    field = await get_field(company_id, field_id)
    async for transaction in write_transactions():
        async with transaction:
            await CustomField.delete().where(
                CustomField.id == field_id, CustomField.company == company_id
            )
            await _log(
                company_id,
                actor,
                f"Deleted the custom field {field['label']} and every client's value of it.",
            )


async def move_field(company_id: int, field_id: int, direction: str, actor: Actor) -> None:
    """Moves a field one place up or down in its group's order."""
    actor.require(CLIENT_GROUPS)
    row = await get_field(company_id, field_id)
    async for transaction in write_transactions():
        async with transaction:
            # The group's fields locked in ID order before their order is read: two moves at
            # once queue rather than deadlock or both start from the same old order. NO KEY
            # UPDATE lets clients' values be saved meanwhile (see _encrypted_fields).
            await locked(
                CustomField.select(CustomField.id)
                .where(CustomField.group == row["group"])
                .order_by(CustomField.id),
                "NO KEY UPDATE",
            )
            fields = await list_fields(company_id, row["group"])
            ids = [f["id"] for f in fields]
            index = ids.index(field_id)
            target = index - 1 if direction == "up" else index + 1
            if 0 <= target < len(ids):
                ids[index], ids[target] = ids[target], ids[index]
            for position, each in enumerate(ids):
                await CustomField.update({CustomField.position: position}).where(
                    CustomField.id == each
                )


# --- custom values --------------------------------------------------------------------------


def check_custom_values(
    fields: list[dict],
    submitted: dict[str, str],
    *,
    current: dict[int, str] | None = None,
    by_client: bool = False,
) -> tuple[dict[int, str], dict[str, str]]:
    """Validates submitted values ({field id as text: value}) against a group's fields.
    Returns (values to store by field id, errors by `custom_<id>`). A client cannot see fields
    that are not visible to clients, nor change read-only ones: those keep their current value."""
    values: dict[int, str] = {}
    errors: dict[str, str] = {}
    current = current or {}
    for row in fields:
        details = field_details(row)
        if by_client and (not row["visible_to_client"] or row["read_only_for_client"]):
            if row["id"] in current:
                values[row["id"]] = current[row["id"]]
            continue
        value = submitted.get(str(row["id"]), "").strip()
        if problem := value_problem(details, value):
            errors[f"custom_{row['id']}"] = problem
        values[row["id"]] = value
    return values, errors


async def save_custom_values(client_id: int, values: dict[int, str]) -> None:
    """Replaces the client's custom values; call inside the client's write transaction."""
    await save_clients_custom_values({client_id: values})


async def save_clients_custom_values(values_by_client: dict[int, dict[int, str]]) -> None:
    """Replaces the custom values of each client; call inside the clients' write transaction.
    Which fields are encrypted is read here, their rows locked until commit, so that a value is
    never stored in the clear in a field being encrypted meanwhile (see update_field)."""
    if not values_by_client:
        return
    field_ids = {
        field_id
        for values in values_by_client.values()
        for field_id, value in values.items()
        if value
    }
    flags = await _encrypted_fields(sorted(field_ids))
    encrypted = {field_id for field_id, flag in flags.items() if flag}
    await CustomFieldValue.delete().where(CustomFieldValue.client.is_in(list(values_by_client)))
    # A field deleted since the values were checked is not in `flags`: its value has no field
    # to go with any more, and the rest are saved.
    rows = [
        (field_id, client_id, encrypt(value) if field_id in encrypted else value)
        for client_id, values in values_by_client.items()
        for field_id, value in values.items()
        if value and field_id in flags
    ]
    columns = (CustomFieldValue.field, CustomFieldValue.client, CustomFieldValue.value)
    await insert_rows(CustomFieldValue, columns, rows)


async def _encrypted_fields(field_ids: list[int], lock: str = "KEY SHARE") -> dict[int, bool]:
    """Whether each field is encrypted, read in the write transaction; on PostgreSQL the rows
    are locked until commit, in ID order (SQLite's write transaction already excludes other
    writers). KEY SHARE, as the values' foreign keys take anyway, holds off update_field's FOR
    UPDATE but not a change of the fields' order (move_field)."""
    if not field_ids:
        return {}
    rows = await locked(
        CustomField.select(CustomField.id, CustomField.encrypted)
        .where(CustomField.id.is_in(field_ids))
        .order_by(CustomField.id),
        lock,
    )
    return {row["id"]: row["encrypted"] for row in rows}


async def custom_values(client_id: int) -> dict[int, str]:
    """The client's values by field id, decrypted."""
    rows = await CustomFieldValue.select(CustomFieldValue.field, CustomFieldValue.value).where(
        CustomFieldValue.client == client_id
    )
    return {row["field"]: decrypt(row["value"]) for row in rows}
