from piccolo.columns import Boolean, ForeignKey, Integer, OnDelete, Text, Varchar
from piccolo.table import Table

from portal.companies.tables import Company


class ClientGroup(Table):
    """Clients are grouped per company; exactly one group of a company is the default."""

    company = ForeignKey(references=Company, null=False, on_delete=OnDelete.cascade)
    name = Varchar(length=100)
    description = Text(default="")
    colour = Varchar(length=7, default="#1f6feb")  # #rrggbb
    is_default = Boolean(default=False)


class ClientGroupSetting(Table):
    """A group's own value for a setting; with no row the group follows its company.
    (group, key) is unique."""

    group = ForeignKey(references=ClientGroup, null=False, on_delete=OnDelete.cascade)
    key = Varchar(length=100)
    value = Text()


class CustomField(Table):
    """A custom client field of a group, shown in the order of `position`."""

    company = ForeignKey(references=Company, null=False, on_delete=OnDelete.cascade)
    group = ForeignKey(references=ClientGroup, null=False, on_delete=OnDelete.cascade, index=True)
    label = Varchar(length=100)
    field_type = Varchar(length=10)  # textbox | checkbox | select | textarea | date | number
    options = Text(default="")  # select: one option a line
    required = Varchar(length=5, default="no")  # no | yes | regex
    regex = Text(default="")
    visible_to_client = Boolean(default=False)
    read_only_for_client = Boolean(default=False)
    encrypted = Boolean(default=False)
    default_value = Text(default="")
    position = Integer(default=0)
