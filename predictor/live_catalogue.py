"""The catalogue as the database holds it now (admin-edited texts and limits), cached per process.

Read once per serving stamp: an admin's edit bumps the stamp, so every process re-reads it,
and requests in between cost no query.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from functools import cached_property

from django.utils.translation import get_language

from predictor.inputs.validation import FactorLimits

LANGS = ("zh_hans", "en")


def language_field() -> str:
    """The field of ``Texts`` for the active language ("en" or "zh_hans"). Reading the active
    language costs a context-local lookup: code writing many texts reads it once."""
    return "en" if (get_language() or "").startswith("en") else "zh_hans"


@dataclass(frozen=True)
class Texts:
    """One text in both languages; ``str()`` gives the active language's."""

    zh_hans: str
    en: str

    def __str__(self) -> str:
        return self.text(language_field())

    def text(self, field: str) -> str:
        """The text in the language of ``field`` (``language_field()``), else the other one."""
        return getattr(self, field) or self.en or self.zh_hans

    @classmethod
    def of(cls, obj, field: str) -> Texts:
        return cls(getattr(obj, f"{field}_zh_hans") or "", getattr(obj, f"{field}_en") or "")


@dataclass(frozen=True)
class LiveFactor:
    key: str
    panel: int
    position: int
    is_fraction: bool
    name: Texts
    unit: Texts
    help_text: Texts
    limits: FactorLimits


@dataclass(frozen=True)
class LiveCatalogue:
    factors: tuple[LiveFactor, ...]
    panel_names: dict[int, Texts]
    combination_names: dict[str, Texts]

    @cached_property
    def by_key(self) -> dict[str, LiveFactor]:
        return {f.key: f for f in self.factors}

    @cached_property
    def limits(self) -> dict[str, FactorLimits]:
        return {f.key: f.limits for f in self.factors}

    def panel_factors(self, panel: int) -> tuple[LiveFactor, ...]:
        return tuple(f for f in self.factors if f.panel == panel)


def load_catalogue() -> LiveCatalogue:
    from predictor.models import Combination, Factor, Panel

    factors = tuple(
        LiveFactor(
            key=f.key, panel=f.panel.number, position=f.position, is_fraction=f.is_fraction,
            name=Texts.of(f, "name"), unit=Texts.of(f, "unit"), help_text=Texts.of(f, "help_text"),
            limits=FactorLimits(f.key, f.is_fraction, f.hard_min, f.hard_max, f.typical_min,
                                f.typical_max, unit=f.unit_en or f.unit,
                                cart_min=f.cart_min, cart_max=f.cart_max),
        )
        for f in Factor.objects.select_related("panel").order_by("position"))
    return LiveCatalogue(
        factors=factors,
        panel_names={p.number: Texts.of(p, "name") for p in Panel.objects.all()},
        combination_names={c.code: Texts.of(c, "name") for c in Combination.objects.all()},
    )


_cache: tuple[int, LiveCatalogue] | None = None
_cache_lock = threading.Lock()


def live_catalogue(stamp: int) -> LiveCatalogue:
    """The catalogue for a serving stamp (normally ``REGISTRY.snapshot().stamp``)."""
    global _cache
    cached = _cache
    if cached is not None and cached[0] == stamp:
        return cached[1]
    with _cache_lock:
        catalogue = load_catalogue()
        _cache = (stamp, catalogue)
        return catalogue


def forget_cached_catalogue() -> None:
    global _cache
    _cache = None
