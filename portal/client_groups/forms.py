"""Reading the client group, custom field and client settings forms, and what they show."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from portal.client_groups.services import (
    ALWAYS_REQUIRED,
    COLOUR,
    CONTACT_FIELDS,
    FIELD_TYPES,
    SETTINGS,
    UNIQUE_EMAIL_CHOICES,
    FieldDetails,
    GroupDetails,
)
from portal.core.forms import checkbox, many, text, without_control_characters

# Settings whose value is a set of contact fields (a group of checkboxes in the form).
FIELD_SET_KEYS = ("required_fields", "shown_fields", "read_only_fields")
# Of those, the ones where first name, last name and email are always in the set.
ALWAYS_KEYS = ("required_fields", "shown_fields")
YES_NO = {"true": "Yes", "false": "No"}
# Settings answered yes or no (a select of the two in the forms).
YES_NO_KEYS = ("usernames_must_be_emails", "email_verification", "require_two_factor")
FOLLOW, OVERRIDE = "follow", "override"


def setting_sections() -> list[tuple[str, list[str]]]:
    """The settings in the forms' sections; a key not placed here still shows, under Other."""
    sections = [
        ("Contact Fields", list(FIELD_SET_KEYS)),
        ("Usernames and Emails", ["usernames_must_be_emails", "unique_contact_emails"]),
        ("Sign-in and Security", ["email_verification", "require_two_factor"]),
        ("Client IDs", ["client_id_format", "client_id_start", "client_id_increment"]),
    ]
    sections = [(title, [k for k in keys if k in SETTINGS]) for title, keys in sections]
    placed = {key for _, keys in sections for key in keys}
    if other := [key for key in SETTINGS if key not in placed]:
        sections.append(("Other", other))
    return sections


def settings_with_defaults(company_values: Mapping[str, str]) -> dict[str, str]:
    """The company's value of every setting, built-in defaults where it has none."""
    return {key: company_values.get(key, spec.default) for key, spec in SETTINGS.items()}


def _many(data: Mapping[str, Any], name: str) -> list[str]:
    return [value for value in many(data, name) if value]


def read_setting_value(data: Mapping[str, Any], key: str) -> str:
    """The submitted value of one setting (`setting_<key>`) as the service stores it: a field
    set as comma-separated keys in the guide's order (unknown keys kept, for the service to
    refuse), anything else as text."""
    name = f"setting_{key}"
    if key in FIELD_SET_KEYS:
        chosen = _many(data, name)
        known = [k for k in CONTACT_FIELDS if k in chosen]
        unknown = [k for k in dict.fromkeys(chosen) if k not in CONTACT_FIELDS]
        return ",".join(known + unknown)
    return text(data, name)


def read_setting_values(data: Mapping[str, Any]) -> dict[str, str]:
    """The settings the form sent. A setting it did not send at all (a form of an earlier
    version of the page, a script) is left as it is; a field set sent with nothing ticked sends
    no value, so those are always read."""
    return {
        key: read_setting_value(data, key)
        for key in SETTINGS
        if key in FIELD_SET_KEYS or f"setting_{key}" in data
    }


def field_set(value: str) -> list[str]:
    return [item for item in value.split(",") if item]


def setting_display(key: str, value: str) -> str:
    """A setting's value in words, for "Follow the company setting (currently: …)"."""
    if key in FIELD_SET_KEYS:
        chosen = set(field_set(value))
        if key in ALWAYS_KEYS:
            chosen |= ALWAYS_REQUIRED
        labels = [label for k, label in CONTACT_FIELDS.items() if k in chosen]
        return ", ".join(labels) if labels else "none"
    if key in YES_NO_KEYS:
        return YES_NO.get(value, value)
    if key == "unique_contact_emails":
        return UNIQUE_EMAIL_CHOICES.get(value, value)
    return value


# --- groups ---------------------------------------------------------------------------------


@dataclass
class GroupForm:
    """What the group form shows: the group, and per setting whether it follows the company
    and the override value typed (kept even while "follow" is chosen)."""

    details: GroupDetails
    modes: dict[str, str] = field(default_factory=dict)
    values: dict[str, str] = field(default_factory=dict)

    @property
    def picker_colour(self) -> str:
        """What `<input type="color">` can show (browsers turn anything else into black)."""
        colour = self.details.colour
        return colour.lower() if COLOUR.match(colour) else "#000000"


def blank_group_form(company_values: Mapping[str, str]) -> GroupForm:
    return GroupForm(
        details=GroupDetails(),
        modes=dict.fromkeys(SETTINGS, FOLLOW),
        values=settings_with_defaults(company_values),
    )


def group_form_of(
    group: Mapping[str, Any], overrides: Mapping[str, str], company_values: Mapping[str, str]
) -> GroupForm:
    values = settings_with_defaults(company_values)
    values.update({k: v for k, v in overrides.items() if k in SETTINGS})
    return GroupForm(
        details=GroupDetails(
            name=group["name"],
            description=group["description"],
            colour=group["colour"],
            overrides=dict(overrides),
        ),
        modes={key: OVERRIDE if key in overrides else FOLLOW for key in SETTINGS},
        values=values,
    )


def _read_colour(data: Mapping[str, Any]) -> str:
    """The colour: the picker's when it was changed, else the typed code. Both fields are
    there so that a keyboard or screen reader user can type the code, with or without
    JavaScript; `colour_initial` tells which of the two was changed."""
    picker = text(data, "colour_picker").lower()
    if picker and picker != text(data, "colour_initial").lower():
        return picker
    return text(data, "colour")


def read_group_form(data: Mapping[str, Any]) -> GroupForm:
    modes = {key: OVERRIDE if data.get(f"mode_{key}") == OVERRIDE else FOLLOW for key in SETTINGS}
    values = {key: read_setting_value(data, key) for key in SETTINGS}
    description = data.get("description", "")
    details = GroupDetails(
        name=text(data, "name"),
        description=(
            without_control_characters(description).strip() if isinstance(description, str) else ""
        ),
        colour=_read_colour(data),
        overrides={key: values[key] if modes[key] == OVERRIDE else None for key in SETTINGS},
    )
    return GroupForm(details=details, modes=modes, values=values)


# --- custom fields --------------------------------------------------------------------------


def read_field_details(data: Mapping[str, Any]) -> FieldDetails:
    options = data.get("options", "")
    return FieldDetails(
        label=text(data, "label"),
        field_type=text(data, "field_type"),
        options=without_control_characters(options) if isinstance(options, str) else "",
        required=text(data, "required") or "no",
        regex=text(data, "regex"),
        visible_to_client=checkbox(data, "visible_to_client"),
        read_only_for_client=checkbox(data, "read_only_for_client"),
        encrypted=checkbox(data, "encrypted"),
        default_value=text(data, "default_value"),
    )


def field_type_name(field_type: str) -> str:
    return FIELD_TYPES.get(field_type, field_type)
