"""German and Spanish are complete: every string the client area, the shared form components
and the client emails mark for translation has a translation in both catalogs."""

from __future__ import annotations

import pytest
from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po

from conftest import PROJECT_DIR
from portal.core.i18n import LOCALE_DIR, translations

KEYWORDS = {
    "_": None,
    "gettext": None,
    "ngettext": (1, 2),
    "translate": None,
    "translate_plural": (1, 2),
}


def _extracted() -> set[str]:
    method_map = [
        ("portal/**.py", "python"),
        ("templates/base.html", "jinja2"),
        ("templates/client/**.html", "jinja2"),
        ("templates/components/**.html", "jinja2"),
        ("templates/mail/**.txt", "jinja2"),
    ]
    options = {
        "**.html": {"extensions": "jinja2.ext.i18n"},
        "**.txt": {"extensions": "jinja2.ext.i18n"},
    }
    found = set()
    for _, _, message, _, _ in extract_from_dir(
        PROJECT_DIR, method_map, options, keywords=KEYWORDS
    ):
        found.add(message[0] if isinstance(message, tuple) else message)
    return found


@pytest.mark.parametrize("language", ["de", "es"])
def test_catalog_is_complete(language):
    with (LOCALE_DIR / language / "LC_MESSAGES" / "messages.po").open("rb") as handle:
        catalog = read_po(handle)
    extracted = _extracted()
    assert len(extracted) > 60
    missing = sorted(m for m in extracted if not (catalog.get(m) and catalog.get(m).string))
    assert missing == []


def test_translations_are_used():
    assert translations("de").gettext("My details") == "Meine Daten"
    assert (
        translations("es").gettext("Opt-in to marketing emails") == "Recibir correos de marketing"
    )
    assert translations("de").ngettext(
        "Please correct %(num)d field", "Please correct %(num)d fields", 2
    ) == ("Bitte korrigieren Sie %(num)d Felder")
