"""Checking an uploaded model file before anything is recorded as usable (spec sections 4 and 6).

The cheap checks (size, archive layout, manifest, baseline) read bytes only. Loading the module
runs code from the upload, so that part happens in a separate process with a wall-clock limit
(``PRCRS_UPLOAD_CHECK_SECONDS``) and an address-space limit (``PRCRS_UPLOAD_CHECK_MEMORY_MB``),
see ``predictor.model_versions.check_model_file``: a hostile or huge file can neither hang nor
crash a web worker. Messages are lazy translations, rendered in the admin's language.

A rejected upload is recorded only as an ``AuditEvent`` (VALIDATION_FAILED, with the reasons,
size and SHA-256); its bytes are not kept and it gets no ModelVersion row or version number, so
nothing about it can ever be activated and version numbers count usable files only.
"""

from __future__ import annotations

import io
import json
import math
import os
import signal
import subprocess
import sys
import tempfile
import time
import zipfile
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from django.conf import settings
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from predictor.catalogue import (
    COMBINATION_CODES,
    CONTEXT_BOTH,
    CONTEXT_KEYS,
    CONTEXT_NONE,
    CONTEXTS,
    CRS_GRADE_RANGE,
    DAY_RANGE,
    FACTORS,
    HORIZONS,
    REFERENCE_COMBINATION,
    combination_factor_keys,
)
from predictor.inputs import strict_json
from predictor.inputs.strict_json import RepeatedKey
from predictor.model_versions.baselines import (
    BaselineError,
    parse_baseline_csv,
    parse_baseline_file,
)
from predictor.model_versions.calibration_spec import CalibrationSpecError, calibration_spec
from predictor.model_versions.model_files import BASELINE_NAME, MANIFEST_NAME
from predictor.model_versions.model_store import sha256_of

# Extra files bigger than this are not read (a manifest or baseline has no reason to be).
MAX_EXTRA_FILE_BYTES = 5 * 1024 * 1024


class UploadRejected(Exception):
    """The upload cannot serve; ``messages`` says why (lazy translations)."""

    def __init__(self, messages: list, codes: list[str] | None = None):
        super().__init__("; ".join(str(m) for m in messages))
        self.messages = list(messages)
        self.codes = list(codes or [])


@dataclass
class CheckedUpload:
    """A file that passed every check, ready for
    ``predictor.model_versions.versions.record_version``."""

    horizon: int
    combination: str
    data: bytes
    original_name: str
    manifest: dict | None
    baseline: list[tuple]  # (probability, severe) or (probability, severe, patient)
    report: dict = field(default_factory=dict)
    context: str = CONTEXT_NONE


@dataclass
class _Problems:
    messages: list = field(default_factory=list)
    codes: list[str] = field(default_factory=list)

    def add(self, code: str, message) -> None:
        self.codes.append(code)
        self.messages.append(message)

    def raise_if_any(self) -> None:
        if self.messages:
            raise UploadRejected(self.messages, self.codes)


def max_upload_bytes() -> int:
    return int(settings.PRCRS_MAX_UPLOAD_MB * 1024 * 1024)


def _mb(size: int) -> str:
    return f"{size / (1024 * 1024):.3g}"


def check_size(size: int, *, what=None) -> None:
    """Reject an empty file or one over ``PRCRS_MAX_UPLOAD_MB`` before reading it."""
    what = what or _("model file")
    if size == 0:
        raise UploadRejected([_("The %(what)s is empty.") % {"what": what}], ["empty"])
    if size > max_upload_bytes():
        raise UploadRejected([_("The %(what)s is %(size)s MB; the limit is %(limit)s MB.") % {
            "what": what, "size": _mb(size), "limit": f"{settings.PRCRS_MAX_UPLOAD_MB:g}"}],
            ["too_large"])


def read_upload(upload, *, what=None) -> bytes:
    """The bytes of a Django ``UploadedFile`` (or anything with ``size`` and ``read``), after
    the size check, so an oversized file is never read into memory."""
    size = getattr(upload, "size", None)
    if size is not None:
        check_size(size, what=what)
    if hasattr(upload, "seek"):
        upload.seek(0)
    data = upload.read(max_upload_bytes() + 1)
    check_size(len(data), what=what)
    return data


def check_archive(data: bytes) -> dict[str, bytes]:
    """Is it a TorchScript archive? Returns its extra files by name (bytes), reading nothing else.

    ``torch.jit.save`` writes a zip whose entries share one top folder holding ``data.pkl``,
    ``constants.pkl``, ``version`` and the module's source under ``code/``; ``torch.save`` of a
    state dict has no ``code/`` and no ``constants.pkl``.
    """
    if not zipfile.is_zipfile(io.BytesIO(data)):
        raise UploadRejected([_("This is not a TorchScript file: a file saved with "
                                "torch.jit.save is a zip archive, and this one is not.")],
                             ["not_zip"])
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            infos = archive.infolist()
            names = [info.filename for info in infos]
            repeated = sorted(name for name, count in Counter(names).items() if count > 1)
            if repeated:  # zipfile reads the last copy, other readers the first
                raise UploadRejected([_(
                    "The archive holds two files named %(name)s, so it could be read two "
                    "ways; save the model again with torch.jit.save.") % {
                    "name": repeated[0][:120]}], ["duplicate_entry"])
            tops = {name.split("/", 1)[0] for name in names}
            top = next(iter(tops)) if len(tops) == 1 else None
            required = {f"{top}/data.pkl", f"{top}/constants.pkl", f"{top}/version"}
            has_code = any(name.startswith(f"{top}/code/") for name in names)
            if top is None or not required <= set(names) or not has_code:
                raise UploadRejected([_(
                    "This zip archive is not a TorchScript model: it lacks the layout "
                    "torch.jit.save writes (data.pkl, constants.pkl, version and code/). Save "
                    "the model with torch.jit.save(torch.jit.script(model), path), not with "
                    "torch.save.")], ["not_torchscript"])
            if sum(info.file_size for info in infos) > 4 * max_upload_bytes():
                raise UploadRejected([_("The archive unpacks to far more than the upload size "
                                        "limit allows.")], ["zip_bomb"])
            extras = {}
            for info in infos:
                parts = info.filename.split("/")
                if len(parts) == 3 and parts[1] == "extra" and parts[2]:
                    if info.file_size > MAX_EXTRA_FILE_BYTES:
                        raise UploadRejected([_("The extra file %(name)s in the archive is too "
                                                "large.") % {"name": parts[2]}], ["extra_large"])
                    extras[parts[2]] = archive.read(info)
            return extras
    except (zipfile.BadZipFile, zipfile.LargeZipFile, NotImplementedError, OSError, EOFError):
        raise UploadRejected([_("This is not a TorchScript file: the zip archive is damaged.")],
                             ["bad_zip"]) from None


def check_manifest(raw: bytes | None, horizon: int, combination: str,
                   problems: _Problems, context: str = CONTEXT_NONE) -> dict | None:
    """The manifest, if the archive has one, must describe this very slot, its context
    included (format version 2: ``context_keys``)."""
    if raw is None:
        return None
    try:
        manifest = strict_json.loads(raw)
    except RepeatedKey as repeated:
        problems.add("manifest_json", _(
            "The archive's manifest.json names “%(key)s” twice, so it could be read two ways.")
            % {"key": repeated.key[:80]})
        return None
    except (UnicodeDecodeError, ValueError):
        problems.add("manifest_json", _("The archive's manifest.json is not valid JSON."))
        return None
    if not isinstance(manifest, dict):
        problems.add("manifest_json", _("The archive's manifest.json must hold a JSON object."))
        return None
    if manifest.get("horizon") is None or str(manifest.get("horizon")) != str(horizon):
        problems.add("manifest_horizon", _(
            "The manifest is for horizon %(found)s, but this upload is for horizon "
            "%(expected)s.") % {"found": manifest.get("horizon", "—"), "expected": horizon})
    if manifest.get("combination") is None or str(manifest.get("combination")) != combination:
        problems.add("manifest_combination", _(
            "The manifest is for panel combination %(found)s, but this upload is for "
            "combination %(expected)s.") % {"found": manifest.get("combination", "—"),
                                            "expected": combination})
    expected = list(combination_factor_keys(combination))
    keys = manifest.get("factor_keys")
    if keys != expected:
        if isinstance(keys, list) and sorted(map(str, keys)) == sorted(expected):
            problems.add("manifest_factor_order", _(
                "The manifest lists the right factors in the wrong order; the model input order "
                "must be the catalogue order: %(keys)s.") % {"keys": ", ".join(expected)})
        else:
            problems.add("manifest_factor_keys", _(
                "The manifest's factor_keys must list exactly the %(count)d factors of "
                "combination %(combination)s in catalogue order: %(keys)s.") % {
                "count": len(expected), "combination": combination, "keys": ", ".join(expected)})
    check_manifest_context(manifest, context, problems)
    unused = manifest.get("unused_factor_keys")
    if unused is not None and (not isinstance(unused, list)
                               or any(k not in expected for k in unused)):
        problems.add("manifest_unused", _(
            "The manifest's unused_factor_keys must list factor keys of combination "
            "%(combination)s.") % {"combination": combination})
    if not isinstance(manifest.get("labs_add_information", True), bool):
        problems.add("manifest_labs_add_information", _(
            "The manifest's labs_add_information must be true or false."))
    medians = manifest.get("medians")
    if medians is not None:
        if not isinstance(medians, dict) or any(
                k not in expected or isinstance(v, bool) or not isinstance(v, (int, float))
                or not math.isfinite(v) for k, v in medians.items()):
            problems.add("manifest_medians", _(
                "The manifest's medians must map this combination's factor keys to finite "
                "numbers."))
    try:  # a method the site cannot fit must never reach serving
        calibration_spec(manifest)
    except CalibrationSpecError as exc:
        problems.add("manifest_calibration", exc.args[0])
    return manifest


def declared_context_keys(manifest: dict | None, context: str) -> tuple[str, ...]:
    """The order the file takes the context values in: the manifest's, else the catalogue's."""
    if not context:
        return ()
    keys = (manifest or {}).get("context_keys")
    if isinstance(keys, list) and sorted(map(str, keys)) == sorted(CONTEXT_KEYS):
        return tuple(keys)
    return CONTEXT_KEYS


def check_manifest_context(manifest: dict, context: str, problems: _Problems) -> None:
    """``context_keys`` (format version 2) must name both context inputs once each, and agree
    with the slot the admin chose: a file with them serves only a context slot, a file
    without them only a labs-only slot."""
    keys = manifest.get("context_keys")
    if keys is None:
        if context:
            problems.add("manifest_context_missing", _(
                "This upload is for a slot with CRS grade and day since infusion, but the "
                "manifest declares no context_keys, so it describes a labs-only file. Choose "
                "\"labs only\", or save the file with \"context_keys\": [\"crs_grade\", "
                "\"day\"] in its manifest."))
        return
    if (not isinstance(keys, list) or any(not isinstance(k, str) for k in keys)
            or len(set(keys)) != len(keys) or set(keys) != set(CONTEXT_KEYS)):
        problems.add("manifest_context_keys", _(
            "The manifest's context_keys must list crs_grade and day, each once, in the order "
            "the model takes them after the lab values (found: %(found)s). This site serves "
            "models that take both or neither.") % {"found": json.dumps(keys)[:200]})
        return
    if manifest.get("format_version") != 2:
        problems.add("manifest_format_version", _(
            "A manifest with context_keys must say \"format_version\": 2 (found: %(found)s).")
            % {"found": json.dumps(manifest.get("format_version"))[:40]})
    if not context:
        problems.add("manifest_context_unexpected", _(
            "The manifest declares context_keys (%(keys)s), so the model takes CRS grade and day "
            "after the lab values, but this upload is for a labs-only slot. Choose the slot "
            "with CRS grade and day since infusion.") % {"keys": ", ".join(keys)})


def check_baseline(uploaded: tuple[str, bytes] | None, in_archive: bytes | None,
                   problems: _Problems) -> tuple[list[tuple], str]:
    """A separately uploaded baseline wins over the archive's ``baseline.csv``."""
    try:
        if uploaded is not None:
            name, data = uploaded
            return parse_baseline_file(name, data), "upload"
        if in_archive is not None:
            try:
                text = in_archive.decode("utf-8")
            except UnicodeDecodeError:
                raise BaselineError(_("The baseline file is neither a CSV nor an Excel "
                                      "workbook.")) from None
            return parse_baseline_csv(text), "archive"
    except BaselineError as exc:
        where = _("uploaded baseline file") if uploaded is not None else BASELINE_NAME
        problems.add("baseline", _("Calibration baseline (%(where)s): %(reason)s") % {
            "where": where, "reason": exc.args[0]})
        return [], ""
    problems.add("baseline_missing", _(
        "No calibration baseline: upload a baseline file, or save the model with a baseline.csv "
        "extra file."))
    return [], ""


# --- the dry run in a separate process -------------------------------------------------------

def _worker_env() -> dict[str, str]:
    """A bare environment: code from the upload sees no secrets and no database address."""
    base = Path(settings.BASE_DIR)
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "PYTHONPATH": str(base),
           "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "PYTHONDONTWRITEBYTECODE": "1",
           "LANG": "C.UTF-8", "HOME": tempfile.gettempdir()}
    return env


# Context inputs for the dry run: the accepted range, and a typical patient-day inside it.
_CONTEXT_SPECS = {"crs_grade": (CRS_GRADE_RANGE, (0, 2)), "day": (DAY_RANGE, (1, 14))}


def input_specs(combination: str, context_keys: tuple[str, ...] = ()) -> list[dict]:
    """Every input of a slot's file in input order, with its accepted (hard) and typical
    range: the lab factors (limits as the database holds them now, which an admin may have
    widened, else the catalogue's), then the context values."""
    limits = {f.key: (f.hard, f.typical) for f in FACTORS}
    try:
        from predictor.models import Factor

        for key, hmin, hmax, tmin, tmax in Factor.objects.values_list(
                "key", "hard_min", "hard_max", "typical_min", "typical_max"):
            limits[key] = ((hmin, hmax), (tmin, tmax))
    except Exception:  # noqa: BLE001 - no database here: the catalogue's limits
        pass
    specs = [{"key": k, "low": limits[k][0][0], "high": limits[k][0][1],
              "typical_low": limits[k][1][0], "typical_high": limits[k][1][1],
              "integer": False} for k in combination_factor_keys(combination)]
    for key in context_keys:
        (low, high), (tlow, thigh) = _CONTEXT_SPECS[key]
        specs.append({"key": key, "low": low, "high": high, "typical_low": tlow,
                      "typical_high": thigh, "integer": True})
    return specs


def run_dry_run(data: bytes, combination: str, context_keys: tuple[str, ...] = ()) -> dict:
    """Load and dry-run the module in a limited child process; returns its JSON answer.

    The child feeds typical values, the accepted limits of every input and seeded random
    points of the whole accepted box (``predictor.model_versions.check_model_file``), with the
    slot's width: the combination's lab values, then ``context_keys``.
    Adds ``code`` ``timeout`` / ``memory`` / ``crashed`` when the child did not answer.
    """
    seconds = float(settings.PRCRS_UPLOAD_CHECK_SECONDS)
    memory_mb = int(settings.PRCRS_UPLOAD_CHECK_MEMORY_MB)
    with tempfile.TemporaryDirectory(prefix="prcrs-upload-") as scratch:
        path = Path(scratch) / "upload.pt"
        path.write_bytes(data)
        os.chmod(path, 0o600)
        specs_path = Path(scratch) / "inputs.json"
        specs_path.write_text(json.dumps(input_specs(combination, context_keys)))
        command = [sys.executable, "-m", "predictor.model_versions.check_model_file",
                   str(path), combination, "--memory-mb", str(memory_mb),
                   "--cpu-seconds", str(int(seconds) + 5), "--inputs", str(specs_path)]
        started = time.monotonic()
        # Its own session, so a timeout kills the child and anything it started.
        proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                stdin=subprocess.DEVNULL, cwd=scratch, env=_worker_env(),
                                start_new_session=True)
        try:
            out, err = proc.communicate(timeout=seconds)
        except subprocess.TimeoutExpired:
            _kill_group(proc)
            proc.communicate()
            return {"ok": False, "code": "timeout", "seconds": seconds}
        elapsed = round(time.monotonic() - started, 3)
    lines = out.decode("utf-8", "replace").strip().splitlines()
    if proc.returncode == 0 and lines:
        try:
            answer = json.loads(lines[-1])
            answer["seconds"] = elapsed
            return answer
        except ValueError:
            pass
    stderr = err.decode("utf-8", "replace")
    if proc.returncode == -signal.SIGXCPU:
        return {"ok": False, "code": "timeout", "seconds": seconds}
    if any(hint in stderr for hint in ("MemoryError", "bad_alloc", "can't allocate memory",
                                       "Cannot allocate memory", "out of memory")):
        return {"ok": False, "code": "memory", "limit_mb": memory_mb}
    return {"ok": False, "code": "crashed", "returncode": proc.returncode,
            "detail": stderr.strip().splitlines()[-1][:300] if stderr.strip() else ""}


def _kill_group(proc: subprocess.Popen) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        proc.kill()


def _where(where: dict | None):
    """Which input row of the dry run a failure came from, in words."""
    where = where or {}
    kind = where.get("kind")
    if kind == "all_low":
        return _("every input at its lowest accepted value")
    if kind == "all_high":
        return _("every input at its highest accepted value")
    if kind in ("low", "high"):
        return (_("%(key)s at its lowest accepted value, %(value)s") if kind == "low"
                else _("%(key)s at its highest accepted value, %(value)s")) % {
            "key": where.get("key", "?"), "value": f"{where.get('value', 0):g}"}
    return _("a random point of the accepted ranges (seed %(seed)s, row %(row)s)") % {
        "seed": where.get("seed", 0), "row": where.get("row", 0)}


def dry_run_message(answer: dict, combination: str, context_keys: tuple[str, ...] = ()):
    """The translated reason for a failed dry run."""
    code = answer.get("code")
    width = len(combination_factor_keys(combination))
    if code == "forward_failed" and context_keys:
        return _("The model failed on an input of %(width)d values: the %(labs)d lab values of "
                 "combination %(combination)s, then %(context)s (batch of %(batch)d). A file "
                 "for a slot with CRS grade and day must take both after the lab values: "
                 "%(detail)s") % {
            "width": width + len(context_keys), "labs": width, "combination": combination,
            "context": ", ".join(context_keys), "batch": answer.get("batch", 1),
            "detail": answer.get("detail", "")}
    if code == "extreme_failed":
        return _("The model works on typical values but fails on values the site accepts "
                 "(%(where)s): %(detail)s. Every value within the accepted limits must give a "
                 "result.") % {"where": _where(answer.get("where")),
                               "detail": answer.get("detail", "")}
    if code == "extreme_not_finite":
        return _("The model's output is NaN or infinite for values the site accepts "
                 "(%(where)s).") % {"where": _where(answer.get("where"))}
    if code == "extreme_bad_shape":
        return _("The model's output has shape %(shape)s for values the site accepts "
                 "(%(where)s); it must be [1, 2].") % {
            "shape": answer.get("shape"), "where": _where(answer.get("where"))}
    if code == "load_failed":
        return _("The file could not be loaded as a TorchScript model on the CPU: %(detail)s") % {
            "detail": answer.get("detail", "")}
    if code == "forward_failed":
        return _("The model failed on an input of %(width)d values, the width of combination "
                 "%(combination)s (batch of %(batch)d): %(detail)s") % {
            "width": width, "combination": combination, "batch": answer.get("batch", 1),
            "detail": answer.get("detail", "")}
    if code == "not_tensor":
        return _("The model returned %(type)s instead of a tensor of logits.") % {
            "type": answer.get("type", "?")}
    if code == "bad_shape":
        batch = answer.get("batch", 1)
        return _("For a batch of %(batch)d the model's output has shape %(shape)s; it must be "
                 "[%(batch)d, 2] (two logits per row).") % {
            "batch": batch, "shape": answer.get("shape")}
    if code == "not_float":
        return _("The model's output must be floating point, not %(dtype)s.") % {
            "dtype": answer.get("dtype", "?")}
    if code == "not_finite":
        return _("The model's output contains NaN or infinite values (batch of %(batch)d).") % {
            "batch": answer.get("batch", 1)}
    if code == "timeout":
        return _("Checking the model took longer than %(seconds)s seconds, so it was stopped.") % {
            "seconds": f"{answer.get('seconds', settings.PRCRS_UPLOAD_CHECK_SECONDS):g}"}
    if code == "memory":
        return _("The model needed more than %(limit)s MB of memory while being checked.") % {
            "limit": answer.get("limit_mb", settings.PRCRS_UPLOAD_CHECK_MEMORY_MB)}
    return _("The process checking the model ended abnormally (%(detail)s).") % {
        "detail": answer.get("detail") or f"exit status {answer.get('returncode')}"}


# --- the whole check -------------------------------------------------------------------------

def check_upload(*, horizon: int, combination: str, data: bytes, original_name: str = "",
                 baseline: tuple[str, bytes] | None = None,
                 context: str = CONTEXT_NONE) -> CheckedUpload:
    """Every check of spec section 4; raises ``UploadRejected`` with all reasons found.

    ``context``: the slot the admin chose, labs only (``""``) or with CRS grade and day
    (``CONTEXT_BOTH``); the manifest, if any, must agree, and a file without one must take
    the slot's width (n lab values, then 2 context values for a context slot).
    Side effects: none in the database; a child process runs the dry run.
    """
    if (horizon not in HORIZONS or context not in CONTEXTS
            or combination not in (*COMBINATION_CODES, REFERENCE_COMBINATION)):
        raise UploadRejected([_("Unknown slot: horizon %(horizon)s, combination "
                                "%(combination)s.") % {"horizon": horizon,
                                                       "combination": combination}], ["slot"])
    if combination == REFERENCE_COMBINATION and context != CONTEXT_BOTH:
        raise UploadRejected([_("Combination 0 is the no-lab reference: it takes no lab value, "
                                "only CRS grade and day since infusion, so it exists only in "
                                "the slot with CRS grade and day.")], ["slot_reference"])
    check_size(len(data))
    if baseline is not None:
        check_size(len(baseline[1]), what=_("baseline file"))
    extras = check_archive(data)
    problems = _Problems()
    manifest = check_manifest(extras.get(MANIFEST_NAME), horizon, combination, problems,
                              context=context)
    rows, baseline_source = check_baseline(baseline, extras.get(BASELINE_NAME), problems)
    context_keys = declared_context_keys(manifest, context)
    answer = run_dry_run(data, combination, context_keys)
    if not answer.get("ok"):
        problems.add(f"dry_run_{answer.get('code')}",
                     dry_run_message(answer, combination, context_keys))
    problems.raise_if_any()
    report = {
        "checked_at": timezone.now().isoformat(), "size": len(data), "sha256": sha256_of(data),
        "width": answer.get("width"), "context_keys": list(context_keys),
        "extreme_rows": answer.get("extreme_rows"),
        "dry_run_raw_probabilities": answer.get("raw_probabilities"),
        "check_seconds": answer.get("seconds"), "torch": answer.get("torch"),
        "manifest": manifest is not None, "baseline_source": baseline_source,
        "baseline_rows": len(rows), "baseline_severe": sum(row[1] for row in rows),
    }
    return CheckedUpload(horizon, combination, data, original_name, manifest, rows, report,
                         context=context)


def submit_upload(*, horizon: int, combination: str, model_file, baseline_file=None,
                  notes: str = "", user=None, context: str = CONTEXT_NONE):
    """Check an admin's upload and, if it passes, record it as a new *validated* version.

    ``model_file``/``baseline_file``: Django ``UploadedFile`` objects (name, size, read).
    Returns the new ``ModelVersion`` (not serving: activation is a separate, explicit step).
    Raises ``UploadRejected`` after recording an ``AuditEvent`` VALIDATION_FAILED; nothing that
    serves changes either way.
    """
    from predictor.model_versions.versions import record_version
    from predictor.models import AuditEvent

    original_name = getattr(model_file, "name", "") or ""
    data = b""
    try:
        data = read_upload(model_file)
        baseline = None
        if baseline_file is not None:
            baseline = (getattr(baseline_file, "name", "") or "",
                        read_upload(baseline_file, what=_("baseline file")))
        checked = check_upload(horizon=horizon, combination=combination, data=data,
                               original_name=original_name, baseline=baseline, context=context)
    except UploadRejected as rejection:
        AuditEvent.objects.create(
            user=user if getattr(user, "pk", None) else None,
            action=AuditEvent.Action.VALIDATION_FAILED,
            detail={"slot": f"h{horizon}-{combination}" + ("-ctx" if context else ""),
                    "original_name": original_name,
                    "size": getattr(model_file, "size", len(data)),
                    "sha256": sha256_of(data) if data else None,
                    "reasons": [str(m) for m in rejection.messages], "codes": rejection.codes})
        raise
    return record_version(horizon=horizon, combination=combination, data=checked.data,
                          original_name=original_name, manifest=checked.manifest,
                          baseline=checked.baseline, user=user if getattr(user, "pk", None)
                          else None, notes=notes, report=checked.report, context=context)
