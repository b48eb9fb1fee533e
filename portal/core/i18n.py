"""Languages the portal ships."""

# code -> name in that language (shown as is in language pickers)
LANGUAGES: dict[str, str] = {
    "en": "English",
    "de": "Deutsch",
    "es": "Español",
}
DEFAULT_LANGUAGE = "en"
