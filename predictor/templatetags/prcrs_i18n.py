"""Template tags for the bilingual pages."""

from __future__ import annotations

from django import template
from django.conf import settings
from django.urls import translate_url
from django.utils.translation import get_language, get_language_info

register = template.Library()


@register.simple_tag(takes_context=True)
def language_links(context) -> list[dict]:
    """Each site language with the address of the current page in it (same path, same query).

    Any page extending base.html gets a working switch, whoever wrote its view.
    """
    request = context.get("request")
    path = request.get_full_path() if request is not None else "/"
    current = get_language()
    return [{"code": code, "name": get_language_info(code)["name_local"],
             "url": translate_url(path, code), "current": code == current}
            for code, _name in settings.LANGUAGES]
