"""The Jinja environment: autoescaped templates from ./templates, with a few globals."""

from __future__ import annotations

import hashlib
from functools import cache

from litestar.plugins.jinja import JinjaTemplateEngine
from litestar.template.config import TemplateConfig

from portal.core.config import STATIC_DIR, TEMPLATES_DIR
from portal.core.i18n import LANGUAGES, current_language, translate, translate_plural


@cache
def asset(path: str) -> str:
    """/static URL with a content hash, so browsers may cache assets and still see changes."""
    digest = hashlib.sha256((STATIC_DIR / path).read_bytes()).hexdigest()[:12]
    return f"/static/{path}?v={digest}"


def _configure(engine: JinjaTemplateEngine) -> None:
    # `_()` in templates translates into the request's language (English in the admin area).
    engine.engine.add_extension("jinja2.ext.i18n")
    engine.engine.install_gettext_callables(translate, translate_plural, newstyle=True)  # type: ignore[attr-defined]
    engine.engine.globals.update(
        asset=asset, LANGUAGES=LANGUAGES, current_language=current_language.get
    )
    # `message | translated`: a sentence made elsewhere (a service's error, a Message), in the
    # request's language; `_()` is for the templates' own strings.
    engine.engine.filters["translated"] = translate
    engine.engine.trim_blocks = True
    engine.engine.lstrip_blocks = True


def template_config() -> TemplateConfig:
    return TemplateConfig(
        directory=TEMPLATES_DIR, engine=JinjaTemplateEngine, engine_callback=_configure
    )
