"""The manifest's ``calibration`` key: which method turns this file's raw score into a
probability, and with which parameters (spec section 5b).

``{"calibration": {"method": "isotonic", "params": {"pseudo_count": 5}}}``. A manifest without
the key (and a file without a manifest) keeps the paper's windows (spec 5a), with the version's
stored window settings. An unknown method or parameter is refused at upload with a message in the
admin's language, and never reaches serving.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field

from django.utils.translation import gettext_lazy as _

from predictor.scoring.calibration import DEFAULT_METHOD
from predictor.scoring.calibration_methods import (
    INTEGER_PARAMS,
    METHOD_PARAMS,
    METHODS,
    UNIT_PARAMS,
)


class CalibrationSpecError(ValueError):
    """A manifest's calibration key that cannot serve; the message says why."""


@dataclass(frozen=True)
class CalibrationSpec:
    method: str = DEFAULT_METHOD
    params: dict = field(default_factory=dict)


def calibration_spec(manifest: Mapping | None, windows: Mapping | None = None) -> CalibrationSpec:
    """The method and parameters a file serves with. ``windows``: the version's stored window
    settings, used by the paper's method where the manifest gives none."""
    # Stored window settings predate this key: keep what they say that the method knows.
    windows = {k: v for k, v in (windows or {}).items() if k in METHOD_PARAMS[DEFAULT_METHOD]}
    raw = (manifest or {}).get("calibration")
    if raw is None:
        return CalibrationSpec(DEFAULT_METHOD, _checked_params(DEFAULT_METHOD, windows))
    if not isinstance(raw, Mapping):
        raise CalibrationSpecError(_(
            "The manifest's calibration must be an object such as {\"method\": \"isotonic\", "
            "\"params\": {}}."))
    method = raw.get("method")
    if method not in METHODS:
        raise CalibrationSpecError(_(
            "The manifest names the calibration method %(method)s, which this site does not "
            "know. Known methods: %(known)s.") % {"method": _short(method),
                                                 "known": ", ".join(METHODS)})
    params = raw.get("params", {})
    if not isinstance(params, Mapping):
        raise CalibrationSpecError(_("The manifest's calibration params must be an object."))
    if method == DEFAULT_METHOD:
        params = {**windows, **params}
    return CalibrationSpec(method, _checked_params(method, params))


def _checked_params(method: str, params: Mapping) -> dict:
    known = METHOD_PARAMS[method]
    checked = {}
    for name, value in params.items():
        if name not in known:
            raise CalibrationSpecError(_(
                "The calibration method %(method)s takes no parameter %(name)s (it takes: "
                "%(known)s).") % {"method": method, "name": _short(name),
                                  "known": ", ".join(known) or "—"})
        if not _valid(name, value):
            raise CalibrationSpecError(_(
                "The calibration parameter %(name)s has an impossible value: %(value)s.")
                % {"name": name, "value": _short(value)})
        checked[name] = value
    return checked


def _valid(name: str, value: object) -> bool:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        return False
    if name in INTEGER_PARAMS:
        return float(value).is_integer() and value >= 0
    if name in UNIT_PARAMS:
        return 0.0 <= value <= 1.0
    return value >= 0


def _short(value: object) -> str:
    return repr(value)[:40]
