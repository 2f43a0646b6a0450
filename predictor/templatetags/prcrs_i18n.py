"""Template tags for the bilingual pages."""

from __future__ import annotations

from django import template
from django.conf import settings
from django.urls import NoReverseMatch, reverse, translate_url
from django.utils import translation

register = template.Library()


@register.simple_tag(takes_context=True)
def language_links(context) -> list[dict]:
    """Each site language with the address of the current page in it (same path, same query).

    Any page extending base.html gets a working switch, whoever wrote its view. An address that
    resolves to nothing (a 404 page) switches to the other language's home page instead.
    """
    request = context.get("request")
    path = request.get_full_path() if request is not None else "/"
    current = translation.get_language()
    links = []
    for code, _name in settings.LANGUAGES:
        url = translate_url(path, code)
        if url == path and code != current:
            url = _home(code)
        links.append({"code": code, "name": translation.get_language_info(code)["name_local"],
                      "url": url, "current": code == current})
    return links


def _home(language: str) -> str:
    with translation.override(language):
        try:
            return reverse("predict")
        except NoReverseMatch:
            return "/"
