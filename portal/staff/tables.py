from piccolo.columns import ForeignKey, Integer, OnDelete, Timestamptz, Varchar
from piccolo.columns.defaults.timestamptz import TimestamptzNow
from piccolo.table import Table

from portal.companies.tables import Company


class Staff(Table):
    """A staff member of the admin area. `email` is stored lower-cased and unique."""

    email = Varchar(length=254, unique=True)
    first_name = Varchar(length=100)
    last_name = Varchar(length=100)
    password_hash = Varchar(length=255)
    status = Varchar(length=10, default="active")  # active | inactive
    language = Varchar(length=16, default="en")  # of the admin area, and of names in lists
    # Raised when the password changes or the account is deactivated: older sessions end.
    session_epoch = Integer(default=0)
    created_at = Timestamptz(default=TimestamptzNow())
    last_login_at = Timestamptz(null=True, default=None)


class StaffCompany(Table):
    """Which companies a staff member may work in; (staff, company) is unique."""

    staff = ForeignKey(references=Staff, null=False, on_delete=OnDelete.cascade)
    company = ForeignKey(references=Company, null=False, on_delete=OnDelete.cascade)


class StaffWidgetState(Table):
    """How a staff member arranged a page's widgets in a company: their order and which are
    minimized (comma-separated widget names). (staff, company, key) is unique (see migrations)."""

    staff = ForeignKey(references=Staff, null=False, on_delete=OnDelete.cascade)
    company = ForeignKey(references=Company, null=False, on_delete=OnDelete.cascade)
    key = Varchar(length=50)  # the page, e.g. "client-profile"
    widget_order = Varchar(length=500, default="")
    minimized = Varchar(length=500, default="")
    updated_at = Timestamptz(default=TimestamptzNow())
