"""The fields of a client's contact and account, declared once (portal.core.forms.Field): the
services check values with them, the admin and client forms show them, client groups name them
in their settings, and the catalogs translate their labels. Labels are the guide's words."""

from __future__ import annotations

from portal.core.forms import Field
from portal.core.i18n import N_, Label

FIRST_NAME = Field("first_name", N_("First Name"), 100, required=True, autocomplete="given-name")
LAST_NAME = Field("last_name", N_("Last Name"), 100, required=True, autocomplete="family-name")
COMPANY = Field("company", N_("Company/Org."), 255, autocomplete="organization")
TITLE = Field("title", N_("Title"), 100, autocomplete="organization-title")
ADDRESS1 = Field("address1", N_("Address 1"), 255, autocomplete="address-line1")
ADDRESS2 = Field("address2", N_("Address 2"), 255, autocomplete="address-line2")
CITY = Field("city", N_("City"), 100, autocomplete="address-level2")
COUNTRY = Field("country", N_("Country"), required=True)
STATE = Field("state", N_("State/Province"), 10)
ZIP = Field("zip", N_("Zip/Postal Code"), 20, autocomplete="postal-code")
EMAIL = Field("email", N_("Email"), 254, required=True, autocomplete="email")
# Contact Information, in the order of the form.
CONTACT_FIELDS = (
    FIRST_NAME,
    LAST_NAME,
    COMPANY,
    TITLE,
    ADDRESS1,
    ADDRESS2,
    CITY,
    COUNTRY,
    STATE,
    ZIP,
    EMAIL,
)
TAX_ID = Field("tax_id", N_("Tax ID/VATIN"), 64)

# Kinds of phone number, which a client group can require like a contact field.
PHONE = Label(N_("Phone"))
FAX = Label(N_("Fax"))
