"""German and Spanish are complete: every string the client area, the shared form components
and the client emails mark for translation has a translation in both catalogs, the compiled
catalogs the portal reads are those of the .po files, and the sentences services build from a
template and a label come out whole in each language."""

from __future__ import annotations

import io

import pytest
from babel.messages.extract import extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po

from conftest import PROJECT_DIR
from portal.clients.fields import CITY
from portal.core.i18n import LOCALE_DIR, Message, current_language, translate, translations

KEYWORDS = {
    "_": None,
    "gettext": None,
    "ngettext": (1, 2),
    "translate": None,
    "translate_plural": (1, 2),
    "N_": None,
}


def _extracted() -> set[str]:
    """What `pybabel extract -F babel.cfg` finds: the same configuration file."""
    with (PROJECT_DIR / "babel.cfg").open() as handle:
        method_map, options = parse_mapping_cfg(handle)
    found = set()
    for _, _, message, _, _ in extract_from_dir(
        PROJECT_DIR, method_map, options, keywords=KEYWORDS
    ):
        found.add(message[0] if isinstance(message, tuple) else message)
    return found


def _catalog(language: str):
    with (LOCALE_DIR / language / "LC_MESSAGES" / "messages.po").open("rb") as handle:
        return read_po(handle)


@pytest.mark.parametrize("language", ["de", "es"])
def test_catalog_is_complete(language):
    catalog = _catalog(language)
    extracted = _extracted()
    assert len(extracted) > 60
    missing = sorted(m for m in extracted if not (catalog.get(m) and catalog.get(m).string))
    assert missing == []


@pytest.mark.parametrize("language", ["de", "es"])
def test_compiled_catalog_is_the_po_file(language):
    """`pybabel compile -d portal/locale` was run after the .po file last changed."""
    compiled = io.BytesIO()
    write_mo(compiled, _catalog(language))
    compiled.seek(0)
    with (LOCALE_DIR / language / "LC_MESSAGES" / "messages.mo").open("rb") as handle:
        assert handle.read() == compiled.getvalue()


def test_translations_are_used():
    assert translations("de").gettext("Account details") == "Kontodaten"
    assert (
        translations("es").gettext("Opt-in to marketing emails") == "Recibir correos de marketing"
    )
    assert translations("de").ngettext(
        "Please correct %(num)d field", "Please correct %(num)d fields", 2
    ) == ("Bitte korrigieren Sie %(num)d Felder")


@pytest.mark.parametrize(
    ("language", "expected"),
    [
        ("en", ["City is required.", "City is too long (at most 100 characters)."]),
        ("de", ["Ort ist erforderlich.", "Ort ist zu lang (höchstens 100 Zeichen)."]),
        ("es", ["Ciudad: campo obligatorio.", "Ciudad: demasiado largo (máximo 100 caracteres)."]),
    ],
)
def test_messages_of_a_field_are_translated_with_its_label(language, expected):
    token = current_language.set(language)
    try:
        sentences = [
            translate(CITY.problem("", required=True)),
            translate(CITY.problem("x" * 101)),
        ]
        # A label of the staff's own (a custom field's) is kept as it is, percent signs too.
        own = translate(Message("%(label)s is required.", label="Rabatt 100%"))
    finally:
        current_language.reset(token)
    assert sentences == expected
    assert own.startswith("Rabatt 100%")
