from piccolo.columns import (
    Boolean,
    Date,
    ForeignKey,
    Integer,
    OnDelete,
    Text,
    Timestamptz,
    Varchar,
)
from piccolo.columns.defaults.timestamptz import TimestamptzNow
from piccolo.table import Table

from portal.client_groups.tables import ClientGroup, CustomField
from portal.companies.tables import Company

# A client's status, in the order Browse's tabs show them.
CLIENT_STATUSES = ("active", "inactive", "fraud")


class Client(Table):
    """A customer account. `code` is the client ID shown to people (the company's format applied
    to `number`), unique per company (an index of the migrations). Who may log in to it are its
    members (`AccountMember`): its owner, made with the account, and the users invited in."""

    company = ForeignKey(references=Company, null=False, on_delete=OnDelete.cascade)
    group = ForeignKey(references=ClientGroup, null=False, on_delete=OnDelete.restrict)
    number = Integer()
    code = Varchar(length=64)
    status = Varchar(length=10, default="active")  # active | inactive | fraud
    # The primary contact's country, kept here by a trigger on the contact, so that Browse
    # filters by it through an index of this table.
    country = Varchar(length=2, default="")
    preferred_currency = Varchar(length=3, default="USD")
    language = Varchar(length=16, default="en")
    tax_exempt = Boolean(default=False)
    tax_id = Varchar(length=64, default="")
    marketing_opt_in = Boolean(default=False)
    version = Integer(default=1)  # optimistic locking: an edit names the version it started from
    created_at = Timestamptz(default=TimestamptzNow())
    updated_at = Timestamptz(default=TimestamptzNow())


class AccountUser(Table, tablename="account_user"):
    """A login of the client area: a person who may belong to several client accounts of one
    company (`AccountMember`). `username` is unique per company, case-insensitively (an index of
    the migrations); the user may also log in with `email`, where its mail goes."""

    company = ForeignKey(references=Company, null=False, on_delete=OnDelete.cascade)
    username = Varchar(length=254)
    email = Varchar(length=254)
    name = Varchar(length=201, default="")
    password_hash = Varchar(length=255, null=True, default=None)
    language = Varchar(length=16, default="en")
    session_epoch = Integer(default=0)  # moved on to end every session of the user
    created_at = Timestamptz(default=TimestamptzNow())
    last_login_at = Timestamptz(null=True, default=None)
    last_login_ip = Varchar(length=45, null=True, default=None)
    # When the user proved `email` is theirs; NULL while unproven. The database sets it back to
    # NULL whenever the email changes (a trigger of the clients migrations, 2026-12-04T06:00).
    email_verified_at = Timestamptz(null=True, default=None)


class AccountMember(Table, tablename="account_member"):
    """A user's place in a client account: the owner (one per account) may do everything there,
    other users what `permissions` (names of portal.clients.users.ACCOUNT_PERMISSIONS, comma
    separated) allow. (user, client) is unique."""

    user = ForeignKey(references=AccountUser, null=False, on_delete=OnDelete.cascade, index=True)
    client = ForeignKey(references=Client, null=False, on_delete=OnDelete.cascade, index=True)
    owner = Boolean(default=False)
    permissions = Varchar(length=255, default="")
    created_at = Timestamptz(default=TimestamptzNow())


class AccountInvitation(Table, tablename="account_invitation"):
    """An invitation of an email address into a client account with chosen permissions: only the
    SHA-256 of its token is kept; single use; expires; can be revoked."""

    client = ForeignKey(references=Client, null=False, on_delete=OnDelete.cascade, index=True)
    email = Varchar(length=254)
    permissions = Varchar(length=255, default="")
    token_hash = Varchar(length=64, unique=True)
    invited_by = Varchar(length=201, default="")  # the name of who invited, as the mail said
    expires_at = Timestamptz()
    used_at = Timestamptz(null=True, default=None)
    revoked_at = Timestamptz(null=True, default=None)
    created_at = Timestamptz(default=TimestamptzNow())


class EmailVerification(Table, tablename="email_verification_link"):
    """A link that confirms a client-area user's email address: only the SHA-256 of the token
    is kept; single use; short-lived; it confirms `email` only while that is still the user's
    address (portal.clients.verification)."""

    user = ForeignKey(references=AccountUser, null=False, on_delete=OnDelete.cascade, index=True)
    email = Varchar(length=254)
    token_hash = Varchar(length=64, unique=True)
    expires_at = Timestamptz()
    used_at = Timestamptz(null=True, default=None)
    created_at = Timestamptz(default=TimestamptzNow())


class ClientCount(Table):
    """How many clients a company has of each group, country and status: what Browse's tabs and
    the group list show, without counting every client. Kept by the database's triggers (see
    the clients migration of 2026-12-02T18:00); (company, group, country, status) is unique."""

    company = ForeignKey(references=Company, null=False, on_delete=OnDelete.cascade)
    group = ForeignKey(references=ClientGroup, null=False, on_delete=OnDelete.cascade)
    country = Varchar(length=2, default="")
    status = Varchar(length=10, default="active")
    clients = Integer(default=0)


class ClientMonthCount(Table):
    """How many clients a company has of each group, country and status that were created in
    each month (UTC): Browse's counts under a creation-date filter add whole months from here.
    Kept with `ClientCount`; (company, month, group, country, status) is unique."""

    company = ForeignKey(references=Company, null=False, on_delete=OnDelete.cascade)
    month = Date()  # its first day
    group = ForeignKey(references=ClientGroup, null=False, on_delete=OnDelete.cascade)
    country = Varchar(length=2, default="")
    status = Varchar(length=10, default="active")
    clients = Integer(default=0)


class Contact(Table):
    """A person of a client account; every client has one primary contact, and may have billing
    and other contacts. A contact with a login is a member of the account through `login`."""

    client = ForeignKey(references=Client, null=False, on_delete=OnDelete.cascade, index=True)
    contact_type = Varchar(length=10, default="primary")  # primary | billing | other
    login = ForeignKey(
        references=AccountUser, null=True, default=None, on_delete=OnDelete.set_null, index=True
    )
    marketing_opt_in = Boolean(default=False)  # a billing or other contact's own consent
    first_name = Varchar(length=100)
    last_name = Varchar(length=100)
    company = Varchar(length=255, default="")
    title = Varchar(length=100, default="")
    address1 = Varchar(length=255, default="")
    address2 = Varchar(length=255, default="")
    city = Varchar(length=100, default="")
    state = Varchar(length=10, default="")  # ISO 3166-2 code, e.g. CA-ON
    zip = Varchar(length=20, default="")
    country = Varchar(length=2, default="")  # ISO 3166-1 alpha-2
    email = Varchar(length=254)


class ContactNumber(Table):
    """A phone or fax number of a contact, stored as E.164 (plus an extension)."""

    contact = ForeignKey(references=Contact, null=False, on_delete=OnDelete.cascade, index=True)
    number_type = Varchar(length=5, default="phone")  # phone | fax
    location = Varchar(length=5, default="home")  # home | work
    number = Varchar(length=32)
    extension = Varchar(length=10, default="")
    position = Integer(default=0)


class ConsentEvent(Table):
    """Append-only record of every marketing opt-in and opt-out: who, when, how, what was shown."""

    client = ForeignKey(references=Client, null=False, on_delete=OnDelete.cascade, index=True)
    # A billing or other contact's own consent; none for the account's (the primary contact's).
    contact = ForeignKey(references=Contact, null=True, default=None, on_delete=OnDelete.cascade)
    opted_in = Boolean()
    actor = Varchar(length=100)  # "staff:12", "client:34", "unsubscribe-link", ...
    source = Varchar(length=50)  # admin-add-client, admin-edit-client, client-area, ...
    wording = Text()  # the exact text the choice was made against
    address = Varchar(length=45, default="")
    at = Timestamptz(default=TimestamptzNow())


class CustomFieldValue(Table):
    """A client's value of a custom field (encrypted at rest when the field says so);
    (field, client) is unique."""

    field = ForeignKey(references=CustomField, null=False, on_delete=OnDelete.cascade)
    client = ForeignKey(references=Client, null=False, on_delete=OnDelete.cascade, index=True)
    value = Text()


class ClientSetting(Table):
    """A client's own value for a setting, above its group's; (client, key) is unique."""

    client = ForeignKey(references=Client, null=False, on_delete=OnDelete.cascade)
    key = Varchar(length=100)
    value = Text()


class ClientSearch(Table):
    """What the client search matches against: one lower-cased document per client, rebuilt by
    `portal.clients.search` in the transaction of every write to the client. SQLite indexes it
    with FTS5 (trigram), PostgreSQL with a pg_trgm GIN index (see the clients migrations)."""

    client = ForeignKey(references=Client, null=False, on_delete=OnDelete.cascade, unique=True)
    company = ForeignKey(references=Company, null=False, on_delete=OnDelete.cascade)
    document = Text()
    # The primary contact's last and first name as Browse sorts them (see search.name_key),
    # compared byte by byte (COLLATE "C" on PostgreSQL).
    name_key = Text(default="")
    # Every contact's name, folded, one a line: a search ranks the clients whose name holds
    # the words first, reading this beside the match instead of the contacts.
    names = Text(default="")


class ClientSearchPending(Table):
    """Clients whose search document may be out of date: the database's triggers add one row
    for each change to what the document is made of, and `portal.clients.search.index_pending`
    rebuilds those documents and empties the table before each write transaction commits. Not a
    foreign key: a deleted client's rows are simply passed over."""

    client = Integer()


class ClientNote(Table):
    """A staff note on a client; sticky notes are shown across the top of the profile."""

    client = ForeignKey(references=Client, null=False, on_delete=OnDelete.cascade, index=True)
    title = Varchar(length=255)
    body = Text(default="")
    sticky = Boolean(default=False)
    staff_id = Integer(null=True, default=None)  # the author (not a key: notes outlive staff)
    created_at = Timestamptz(default=TimestamptzNow())
    updated_at = Timestamptz(default=TimestamptzNow())


class ClientAudit(Table):
    """The audit log of a client: one line per change (field, old → new, who, when, from where).
    `client_id` is deliberately not a foreign key: the line of a deletion outlives the client.
    Never holds a password."""

    company = ForeignKey(references=Company, null=False, on_delete=OnDelete.cascade)
    client_id = Integer()
    client_code = Varchar(length=64, default="")
    field = Varchar(length=100)
    old_value = Text(default="")
    new_value = Text(default="")
    actor = Varchar(length=100)  # "staff:12", "client:34", "system"
    staff_id = Integer(null=True, default=None)
    address = Varchar(length=45, default="")
    at = Timestamptz(default=TimestamptzNow())


class Tag(Table):
    """A label staff put on clients ("VIP", "Reseller"), shared by the whole company, in one
    of the colours of portal.clients.tags.COLOURS. Its name is unique per company, compared
    case-insensitively (an index of the migrations)."""

    company = ForeignKey(references=Company, null=False, on_delete=OnDelete.cascade)
    name = Varchar(length=50)
    colour = Varchar(length=10, default="blue")
    created_at = Timestamptz(default=TimestamptzNow())


class ClientTag(Table, tablename="client_tag"):
    """A tag on a client. (client, tag) is unique, and (tag, client) is indexed for Browse's
    tag filter (indexes of the migrations)."""

    client = ForeignKey(references=Client, null=False, on_delete=OnDelete.cascade)
    tag = ForeignKey(references=Tag, null=False, on_delete=OnDelete.cascade)


class Segment(Table):
    """A saved filter of Browse that staff name and reuse, and that the mass mailer offers as
    a recipient filter. `filters` is Browse's query string of the filters alone, as Browse's
    own parser normalised it ("country=DE&tag=3"). Its name is unique per company, compared
    case-insensitively (an index of the migrations)."""

    company = ForeignKey(references=Company, null=False, on_delete=OnDelete.cascade)
    name = Varchar(length=100)
    filters = Varchar(length=500)
    created_by = Varchar(length=201, default="")  # the staff member's name, as it was
    created_at = Timestamptz(default=TimestamptzNow())


class ClientMerge(Table, tablename="client_merge"):
    """A client merged into another (portal.clients.merge): its old ID leads to the kept
    client. `merged_client_id` is not a foreign key (that client is gone) and is indexed (an
    index of the migrations); the row goes with the kept client, and follows it when the kept
    client is itself merged into a third."""

    company = ForeignKey(references=Company, null=False, on_delete=OnDelete.cascade)
    merged_client_id = Integer()
    merged_code = Varchar(length=64)
    kept = ForeignKey(references=Client, null=False, on_delete=OnDelete.cascade, index=True)
    merged_by = Varchar(length=201, default="")  # who merged, by name as it was then
    merged_at = Timestamptz(default=TimestamptzNow())
