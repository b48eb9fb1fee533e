from piccolo.columns import Boolean, ForeignKey, Integer, OnDelete, Timestamptz, Varchar
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


class StaffGroup(Table, tablename="staff_group"):
    """A company's staff group: what its members may do there. (company, lower(name)) is
    unique. `builtin`: "administrators" holds every permission there is (none stored, it cannot
    be changed or deleted), "support" is the read-mostly set a new company starts with."""

    company = ForeignKey(references=Company, null=False, on_delete=OnDelete.cascade)
    name = Varchar(length=100)
    builtin = Varchar(length=20, default="")
    created_at = Timestamptz(default=TimestamptzNow())


class StaffGroupPermission(Table, tablename="staff_group_permission"):
    """A permission a group grants (portal.core.permissions); (group, permission) is unique."""

    group = ForeignKey(references=StaffGroup, null=False, on_delete=OnDelete.cascade)
    permission = Varchar(length=64)


class StaffCompany(Table):
    """A staff member's membership of a company: their staff group there, and whether they may
    work there (`active`). (staff, company) is unique."""

    staff = ForeignKey(references=Staff, null=False, on_delete=OnDelete.cascade)
    company = ForeignKey(references=Company, null=False, on_delete=OnDelete.cascade)
    staff_group = ForeignKey(references=StaffGroup, null=True, on_delete=OnDelete.no_action)
    active = Boolean(default=True)


class StaffToken(Table, tablename="staff_token"):
    """An invitation or password reset link: only the SHA-256 of the token is kept; single use;
    it expires."""

    staff = ForeignKey(references=Staff, null=False, on_delete=OnDelete.cascade, index=True)
    purpose = Varchar(length=10)  # invite | reset
    token_hash = Varchar(length=64, unique=True)
    expires_at = Timestamptz()
    used_at = Timestamptz(null=True, default=None)
    created_at = Timestamptz(default=TimestamptzNow())


class StaffWidgetState(Table):
    """How a staff member arranged a page's widgets in a company: their order and which are
    minimized (comma-separated widget names). (staff, company, key) is unique (see migrations)."""

    staff = ForeignKey(references=Staff, null=False, on_delete=OnDelete.cascade)
    company = ForeignKey(references=Company, null=False, on_delete=OnDelete.cascade)
    key = Varchar(length=50)  # the page, e.g. "client-profile"
    widget_order = Varchar(length=500, default="")
    minimized = Varchar(length=500, default="")
    updated_at = Timestamptz(default=TimestamptzNow())
