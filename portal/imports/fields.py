"""What a column of an imported file can be (the fields of Add Client, phone and fax numbers,
custom fields by their label), how a header maps itself, and how a row's cells become the
details Add Client would have received. Plain functions: no database."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import pycountry

from portal.clients.fields import CONTACT_FIELDS, FAX, PHONE, TAX_ID
from portal.clients.services import (
    MARKETING_OPT_IN_WORDING,
    STATUSES,
    ClientDetails,
    ClientRules,
    PhoneRow,
)
from portal.core.countries import is_country, state_belongs_to, subdivisions
from portal.core.i18n import LANGUAGES

CUSTOM = "custom:"  # a custom field's target: "custom:" and its label, lower-case
# Targets beyond the contact fields, with the labels of Add Client.
ACCOUNT_TARGETS = {
    "client_id": "Client ID",
    "phone": PHONE,
    "fax": FAX,
    "tax_exempt": "Tax Exempt",
    "tax_id": TAX_ID.label,
    "preferred_currency": "Preferred Currency",
    "username": "Username",
    "language": "Language",
    "group": "Client Group",
    "status": "Status",
    "marketing_opt_in": MARKETING_OPT_IN_WORDING,
}
TARGETS = {**{f.name: str(f.label) for f in CONTACT_FIELDS}, **ACCOUNT_TARGETS}
# Headers other systems use (WHMCS, Blesta, FOSSBilling exports, spreadsheets), by their
# folded form (see fold).
SYNONYMS = {
    "id": "client_id",
    "clientid": "client_id",
    "firstname": "first_name",
    "givenname": "first_name",
    "forename": "first_name",
    "lastname": "last_name",
    "surname": "last_name",
    "familyname": "last_name",
    "companyname": "company",
    "company": "company",
    "companyorg": "company",
    "organisation": "company",
    "organization": "company",
    "jobtitle": "title",
    "address": "address1",
    "street": "address1",
    "address1": "address1",
    "address2": "address2",
    "town": "city",
    "countrycode": "country",
    "state": "state",
    "statecode": "state",
    "province": "state",
    "region": "state",
    "zip": "zip",
    "zipcode": "zip",
    "postcode": "zip",
    "postalcode": "zip",
    "email": "email",
    "emailaddress": "email",
    "mail": "email",
    "phone": "phone",
    "phonenumber": "phone",
    "telephone": "phone",
    "tel": "phone",
    "mobile": "phone",
    "faxnumber": "fax",
    "taxid": "tax_id",
    "vat": "tax_id",
    "vatin": "tax_id",
    "vatnumber": "tax_id",
    "taxexempt": "tax_exempt",
    "currency": "preferred_currency",
    "group": "group",
    "groupname": "group",
    "clientgroup": "group",
    "lang": "language",
    "marketingoptin": "marketing_opt_in",
    "marketingemails": "marketing_opt_in",
    "emailoptin": "marketing_opt_in",
    "newsletter": "marketing_opt_in",
}
# Statuses other systems give clients, as the portal's: WHMCS's Closed, FOSSBilling's suspended
# and canceled clients cannot log in, as the portal's inactive ones.
STATUS_WORDS = {
    **{key: key for key in STATUSES},
    **{label.casefold(): key for key, label in STATUSES.items()},
    "closed": "inactive",
    "suspended": "inactive",
    "canceled": "inactive",
    "cancelled": "inactive",
}
# Headers that mark another system's client export (as written, case aside): WHMCS's Clients
# report (Reports > Clients, exported as CSV) and Blesta's CSV import format (Import Manager).
SYSTEM_HEADERS = {
    "WHMCS": {
        "company name",
        "phone number",
        "postcode",
        "client group id",
        "creation date",
        "credit",
    },
    "Blesta": {"state_code", "postal_code", "country_code"},
}
SYSTEM_MARKS_NEEDED = 3
MAX_NUMBER_DIGITS = 9  # a client number is a 32-bit integer
TRUE_WORDS = {"yes", "y", "true", "1", "x", "on", "ja", "si", "sí"}
FALSE_WORDS = {"no", "n", "false", "0", "off", "nein", ""}
LANGUAGE_NAMES = {
    **{code: code for code in LANGUAGES},
    **{name.casefold(): code for code, name in LANGUAGES.items()},
    "german": "de",
    "spanish": "es",
}


def fold(header: str) -> str:
    """A header compared loosely: lower-case letters and digits only ("E-Mail" -> "email")."""
    return re.sub(r"[^0-9a-z]", "", header.casefold())


def recognised_system(header: list[str]) -> str | None:
    """The system whose client export the header looks like: the one with most of its marks
    there, at least SYSTEM_MARKS_NEEDED."""
    names = {name.strip().casefold() for name in header}
    found = max(SYSTEM_HEADERS, key=lambda system: len(SYSTEM_HEADERS[system] & names))
    return found if len(SYSTEM_HEADERS[found] & names) >= SYSTEM_MARKS_NEEDED else None


def targets(custom_labels: list[str]) -> dict[str, str]:
    """Every target a column can have: {target: label}."""
    return {**TARGETS, **{CUSTOM + label.casefold(): label for label in custom_labels}}


def auto_mapping(header: list[str], custom_labels: list[str]) -> list[str]:
    """The target of each column whose header is a field's label (as on Add Client), a known
    synonym, or a custom field's label; "" for the others. A target other than phone and fax
    goes to its first column only."""
    by_fold = {fold(label): target for target, label in targets(custom_labels).items()}
    by_fold.update(SYNONYMS)
    by_fold.update({fold(target): target for target in TARGETS})
    mapping, used = [], set()
    for name in header:
        target = by_fold.get(fold(name), "")
        if target in used and target not in {"phone", "fax"}:
            target = ""
        used.add(target)
        mapping.append(target)
    return mapping


def check_mapping(mapping: list[str], known: dict[str, str]) -> dict[str, str]:
    """Problems of a mapping, as form errors: unknown targets, a target chosen twice, and the
    fields without which no row can be imported."""
    errors: dict[str, str] = {}
    seen: dict[str, int] = {}
    for index, target in enumerate(mapping):
        if not target:
            continue
        if target not in known:
            errors[f"map-{index}"] = "Choose a field from the list."
        elif target in seen and target not in {"phone", "fax"}:
            errors[f"map-{index}"] = f"{known[target]} is already the field of another column."
        seen.setdefault(target, index)
    missing = [TARGETS[t] for t in ("first_name", "last_name", "email", "country") if t not in seen]
    if missing:
        errors[""] = "Map a column to each of: " + ", ".join(missing) + "."
    return errors


# --- a row's cells ------------------------------------------------------------------------


@dataclass
class Lookups:
    """What the rows of one file are read against (loaded once per job): the company's
    defaults and groups, and remembered answers of lookups in pycountry."""

    default_group_id: int
    default_currency: str
    default_language: str
    groups: dict[str, int]  # folded name and ID as text -> ID
    rules: dict[int, ClientRules] = field(default_factory=dict)
    countries: dict[str, str | None] = field(default_factory=dict)
    states: dict[tuple[str, str], str | None] = field(default_factory=dict)

    def country(self, value: str) -> str | None:
        if value not in self.countries:
            try:
                found = pycountry.countries.lookup(value.strip())
                self.countries[value] = found.alpha_2
            except LookupError:
                self.countries[value] = None
        return self.countries[value]

    def state(self, country: str, value: str) -> str | None:
        key = (country, value)
        if key not in self.states:
            upper = value.strip().upper()
            folded = value.strip().casefold()
            code = next(
                (
                    candidate
                    for candidate in (upper, f"{country}-{upper}")
                    if state_belongs_to(candidate, country)
                ),
                None,
            ) or next(
                (code for code, name in subdivisions(country) if name.casefold() == folded),
                None,
            )
            self.states[key] = code
        return self.states[key]


@dataclass
class ImportedRow:
    """A row as Add Client's details, its status, and the problems found reading its cells
    ({target: message}); `columns` names the column behind each form field, for reports."""

    details: ClientDetails
    status: str
    problems: dict[str, str]
    columns: dict[str, str]
    number: int | None = None  # the client ID's number to keep


def _yes_no(value: str) -> bool | None:
    folded = value.strip().casefold()
    return True if folded in TRUE_WORDS else False if folded in FALSE_WORDS else None


def read_row(
    cells: list[str], header: list[str], mapping: list[str], lookups: Lookups
) -> ImportedRow:
    details = ClientDetails(
        preferred_currency=lookups.default_currency, language=lookups.default_language
    )
    details.group_id = str(lookups.default_group_id)
    problems: dict[str, str] = {}
    columns: dict[str, str] = {}
    status = "active"
    number = None
    custom: dict[str, str] = {}
    for index, (target, value) in enumerate(zip(mapping, cells, strict=False)):
        if not target:
            continue
        value = value.strip()
        column = header[index] or f"Column {index + 1}"
        columns.setdefault(target, column)
        if target in {"phone", "fax"}:
            if value:
                row_id = str(index)
                details.phones.append(PhoneRow(row_id, target, "home", value))
                columns[f"phone-number-{row_id}"] = column
        elif target.startswith(CUSTOM):
            custom[target.removeprefix(CUSTOM)] = value
            columns[target] = column
        elif target in {"tax_exempt", "marketing_opt_in"}:
            flag = _yes_no(value)
            if flag is None:
                problems[target] = f'Write Yes or No, not "{value}".'
            setattr(details, target, bool(flag))
        elif target == "status":
            if value:
                status = STATUS_WORDS.get(value.casefold(), "")
                if not status:
                    problems[target] = f'Write Active, Inactive or Fraud, not "{value}".'
        elif target == "client_id":
            if value.isdigit() and len(value) <= MAX_NUMBER_DIGITS:
                number = int(value)
            elif value:
                problems[target] = f'Write the client ID as a whole number, not "{value}".'
        elif target == "group":
            if value:
                group_id = lookups.groups.get(value.casefold())
                if group_id is None:
                    problems[target] = f'There is no client group "{value}".'
                else:
                    details.group_id = str(group_id)
        elif target == "language":
            if value:
                details.language = LANGUAGE_NAMES.get(
                    value.casefold().split("-")[0].split("_")[0], value
                )
        elif target == "preferred_currency":
            if value:
                details.preferred_currency = value.upper()
        elif target == "username":
            if value:
                details.username_mode, details.username = "specify", value
        elif target == "country":
            code = lookups.country(value) if value else ""
            if value and code is None:
                problems[target] = f'"{value}" is not a country.'
            details.country = code or ""
        else:
            setattr(details, target, value)
    if details.state and is_country(details.country):
        code = lookups.state(details.country, details.state)
        if code is None:
            problems["state"] = (
                f'"{details.state}" is not a state or province of {details.country}.'
            )
        else:
            details.state = code
    rules = lookups.rules.get(int(details.group_id))
    if rules is not None:
        for custom_field in rules.fields:
            folded = custom_field["label"].casefold()
            if folded in custom:
                value = custom.pop(folded)
                if custom_field["field_type"] == "checkbox" and _yes_no(value) is not None:
                    value = "1" if _yes_no(value) else ""  # the words of the yes/no columns
                details.custom[str(custom_field["id"])] = value
                columns[f"custom_{custom_field['id']}"] = columns[CUSTOM + folded]
    for label, value in custom.items():
        if value:
            problems[CUSTOM + label] = "The client's group has no custom field of this name."
    return ImportedRow(details, status, problems, columns, number)
