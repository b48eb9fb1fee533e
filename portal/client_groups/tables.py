from piccolo.columns import Boolean, ForeignKey, OnDelete, Text, Varchar
from piccolo.table import Table

from portal.companies.tables import Company


class ClientGroup(Table):
    """Clients are grouped per company; exactly one group of a company is the default."""

    company = ForeignKey(references=Company, null=False, on_delete=OnDelete.cascade)
    name = Varchar(length=100)
    description = Text(default="")
    colour = Varchar(length=7, default="#1f6feb")  # #rrggbb
    is_default = Boolean(default=False)
