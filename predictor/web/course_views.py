"""The course page (``/<lang>/course/``): a patient's days or a cohort sheet, scored in memory.

Thin: the sheet is read by ``predictor.sheets``, scored by ``predictor.cohorts.course_scoring``
(batched, ``predictor.scoring.batch``), validated by ``predictor.cohorts.cohort_validation`` and
drawn by ``predictor.cohorts.charts``; this module only adapts HTTP to them and shapes their
answers for the templates. Nothing is stored: every button after the first scoring is a form
that posts the parsed sheet back (a hidden field), and the server scores it again.

Actions (the POST field ``action``): ``score`` (a pasted or uploaded sheet), ``course`` (show the
carried single course again), ``cohort`` (the patient list), ``patient`` (one patient's course),
``validate`` (the cohort validation), ``download`` (``format`` xlsx or csv, optionally for one
``patient``). Only ``score`` writes the prediction log (when it is on): the other actions re-score
rows already logged.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from django.conf import settings
from django.core.exceptions import RequestDataTooBig, TooManyFieldsSent
from django.http import HttpRequest, HttpResponse, Http404
from django.shortcuts import render
from django.utils import translation
from django.utils.cache import add_never_cache_headers
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.csrf import csrf_exempt, csrf_protect
from django.views.decorators.http import require_http_methods, require_safe

from predictor.access.rate_limits import charge
from predictor.catalogue import FACTORS_BY_KEY, HORIZONS
from predictor.cohorts.charts import (
    CalibrationPoint,
    CalibrationSeries,
    RiskSeries,
    calibration_chart,
    lab_chart,
    risk_chart,
)
from predictor.cohorts.cohort_validation import UNDEFINED_REASONS, UNSCORED_REASONS
from predictor.cohorts.course_scoring import (
    day_rows,
    pack_course,
    reference_of,
    score_rows,
    unpack_course,
    validate_rows,
)
from predictor.fhir.course import course_from_upload, is_bundle_upload
from predictor.inputs.intake import sheet_course
from predictor.inputs.repeated_fields import repeated_fields
from predictor.live_catalogue import live_catalogue
from predictor.scoring import prediction_log
from predictor.scoring.registry import REGISTRY
from predictor.sheets import (
    Course,
    Problem,
    SheetError,
    read_pasted,
    read_upload,
    results_to_csv,
    results_to_xlsx,
    template_csv,
    template_xlsx,
)
from predictor.sheets.memory_upload import BoundedMemoryUpload
from predictor.sheets.input_columns import input_cells, input_columns
from predictor.web.forms import HORIZON_TITLES
from predictor.scoring.shown_percent import sheet_percent
from predictor.risk_words.frequency import short_frequency
from predictor.web.course_contributions import course_contributions
from predictor.web.views import SWITCH_LANGUAGE, Estimate, estimate

CARRY_FORM_ID = "course-carry"
ACTIONS = ("score", "course", "cohort", "patient", "validate", "download")
# Key labs drawn on their own small charts when the course has them: the cytokine storm's
# markers (IL-6, IL-10, IFN-γ), the acute-phase and macrophage-activation ones (CRP, ferritin)
# and the tissue-damage / coagulation ones a CRS unit follows (LDH, D-dimer).
LAB_CHART_KEYS = ("il6", "crp", "ferritin", "il10", "ifn_gamma", "d_dimer", "ldh")
DEFAULT_SEED = 0
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


_TOO_LARGE_TO_READ = gettext_lazy("The sheet is too large to send back from the page. Split it "
                                  "into smaller sheets, or use the batch API.")


class _PageError(Exception):
    """A problem to show at the top of the page instead of a result."""

    def __init__(self, problems: list, status: int = 400):
        super().__init__(problems)
        self.problems, self.status = problems, status


# ----------------------------------------------------------------------------- views


@require_safe
def course_template(request: HttpRequest, fmt: str) -> HttpResponse:
    """The empty course sheet in the page's language (or ``?language=``), .xlsx or .csv."""
    language = request.GET.get("language") or translation.get_language()
    if language not in dict(settings.LANGUAGES):
        raise Http404
    name = f"prcrs-course-template-{language}"
    if fmt == "xlsx":
        return _attachment(template_xlsx(language), XLSX, f"{name}.xlsx")
    if fmt == "csv":
        return _attachment(template_csv(language), "text/csv; charset=utf-8", f"{name}.csv")
    raise Http404


@csrf_exempt  # CSRF is checked below, once the upload handlers are set (Django's own advice)
@require_http_methods(["GET", "HEAD", "POST"])
def course_page(request: HttpRequest) -> HttpResponse:
    request.upload_handlers = [BoundedMemoryUpload(request)]
    if request.method == "POST" and not _post_ok(request):
        # The CSRF check would read the form and fail on it with a generic page; this page
        # says what went wrong and keeps its forms (nothing is done, so no token is needed).
        context = _page_context() | {"problems": [str(_TOO_LARGE_TO_READ)]}
        response = render(request, "predictor/course.html", context, status=413)
        add_never_cache_headers(response)
        return response
    return _course_page(request)


@csrf_protect
def _course_page(request: HttpRequest) -> HttpResponse:
    context = _page_context()
    status = 200
    if request.method == "POST":
        try:
            response = _post(request, context)
        except _PageError as error:
            context["problems"] = [str(p) for p in error.problems]
            # The paste comes back whole (it is at most the sheet limit), so nothing typed is lost.
            context["pasted"] = request.POST.get("text", "") if _post_ok(request) else ""
            status = error.status
            response = None
        if response is not None and not isinstance(response, dict):
            add_never_cache_headers(response)
            return response
    response = render(request, "predictor/course.html", context, status=status)
    if request.method == "POST":
        add_never_cache_headers(response)  # the page holds patients' lab values
        if status == 429:
            response["Retry-After"] = context.get("retry_after", "60")
    return response


def _post_ok(request: HttpRequest) -> bool:
    try:
        request.POST  # noqa: B018 - parsing may refuse an oversized form
    except (RequestDataTooBig, TooManyFieldsSent):
        return False
    return True


@dataclass(frozen=True)
class Submission:
    """What a POST asked for, once read: the sheet, the rows concerned, and whether the sheet
    was submitted now (``fresh``) or carried back from an earlier answer."""

    course: Course
    rows: list
    patient: str  # the patient named by the button or the carried form ("" when none)
    fresh: bool


def _post(request: HttpRequest, context: dict):
    """Read the POST, charge its predictions, then run the one action it resolves to."""
    if not _post_ok(request):
        raise _PageError([str(_TOO_LARGE_TO_READ)], status=413)
    requested = _action(request.POST)
    fresh = requested == "score" and SWITCH_LANGUAGE not in request.POST
    patient = request.POST.get("open_patient") or request.POST.get("patient", "")
    course = (_submitted_course(request) if fresh
              else _carried_course(request, patient if requested in ("patient", "download")
                                   else None))
    rows = _rows_asked(course, requested, patient)
    one_patient = rows is not course.rows
    action = _resolved_action(requested, course, one_patient)
    _charge(request, context, predictions=len(rows))
    # Carry the sheet as it came (a patient's view parsed only that patient's rows).
    carry = pack_course(course) if fresh else request.POST.get("sheet", "").strip()
    context.update(sheet=carry, is_cohort=course.is_cohort,
                   can_validate=_can_validate(course), patient=patient if one_patient else "",
                   view=action if action != "score" else "course",
                   language_form_id=CARRY_FORM_ID, switch_name=SWITCH_LANGUAGE)
    submission = Submission(course=course, rows=rows, patient=patient, fresh=fresh)
    if fresh:  # the sheet box keeps what was pasted, so fixing one typo is one edit
        context["pasted"] = request.POST.get("text", "")
        # A file and a paste together: the file is scored (a paste left from the last sheet is
        # the usual cause), and the page says so rather than leave the reader to guess.
        context["file_over_paste"] = (request.FILES.get("file") is not None
                                      and bool(context["pasted"].strip()))
    return ACTION_RUNNERS[action](request, context, submission)


def _carried_course(request: HttpRequest, patient: str | None) -> Course:
    """The sheet posted back by the page; opening or downloading one patient needs that
    patient's rows only."""
    try:
        return unpack_course(request.POST.get("sheet", ""), patient=patient or None)
    except SheetError as error:
        raise _PageError(error.problems) from None


def _rows_asked(course: Course, requested: str, patient: str) -> list:
    """One patient's rows when a patient of a cohort is opened or downloaded, else all."""
    if requested in ("patient", "download") and course.is_cohort and patient:
        rows = course.patients().get(patient)
        if rows is None:
            raise _PageError([_("This sheet has no patient “%(patient)s”.") % {
                "patient": patient}])
        return rows
    return course.rows


def _resolved_action(requested: str, course: Course, one_patient: bool) -> str:
    """The action to run: a view the sheet cannot show falls back to the whole sheet's."""
    whole = "cohort" if course.is_cohort else "course"
    if requested == "patient" and not one_patient:
        return whole
    if requested == "validate" and not _can_validate(course):
        return whole
    if requested in ("score", "course") and course.is_cohort:
        return "cohort"
    return requested


def _charge(request: HttpRequest, context: dict, *, predictions: int) -> None:
    refused = charge(request, predictions=predictions)
    if refused is not None:
        context["retry_after"] = str(refused.retry_after)
        raise _PageError([refused.message], status=429)


def _scored(submission: Submission) -> list:
    """The rows' outcomes; only a fresh sheet is logged (the other actions re-score rows that
    were logged when first scored)."""
    outcomes = score_rows(day_rows_of(submission.rows), list(HORIZONS))
    if submission.fresh:
        prediction_log.record([p for o in outcomes for p in o.predictions], channel="web")
    return outcomes


def _show_course(request: HttpRequest, context: dict, submission: Submission) -> dict:
    context.update(_course_view(_factor_names(), submission.rows, _scored(submission)))
    return context


def _show_cohort(request: HttpRequest, context: dict, submission: Submission) -> dict:
    context.update(view="cohort", patients=_patient_views(submission.course,
                                                          _scored(submission)))
    return context


def _show_validation(request: HttpRequest, context: dict, submission: Submission) -> dict:
    seed = _seed(request.POST.get("seed"))
    report = validate_rows(day_rows(submission.course), list(HORIZONS), seed=seed)
    context.update(view="validate", seed=seed, resamples=report.resamples,
                   validation=_validation_view(report))
    return context


def _send_download(request: HttpRequest, context: dict, submission: Submission) -> HttpResponse:
    outcomes = _scored(submission)
    return _download(request.POST.get("download", "xlsx"), _factor_names(), submission.rows,
                     outcomes, submission.course.is_cohort, submission.patient)


# Every action the page knows (``ACTIONS``) -> the function that answers it.
ACTION_RUNNERS = {"score": _show_course, "course": _show_course, "patient": _show_course,
                  "cohort": _show_cohort, "validate": _show_validation,
                  "download": _send_download}


def _action(post) -> str:
    """What the buttons asked for. The carried sheet sits in one form (``CARRY_FORM_ID``) and
    each button names its action: ``download`` (value: the format), ``open_patient`` (value: the
    patient), ``validate``, ``show`` (value: a view); otherwise the form's own ``action``
    (the view shown, which the language switch re-opens)."""
    if "download" in post:
        return "download"
    if "open_patient" in post:
        return "patient"
    if "validate" in post:
        return "validate"
    action = post.get("show") or post.get("action", "score")
    return action if action in ACTIONS else "score"


def day_rows_of(rows) -> list:
    """DayRows of some of a course's rows (one patient's)."""
    return day_rows(Course(columns=[], rows=list(rows)))


def _submitted_course(request: HttpRequest) -> Course:
    repeated = repeated_fields(request.POST, request.FILES, names=("file", "text", "units"))
    if repeated:  # two sheets or two unit systems in one submission: which one is meant?
        raise _PageError([message for messages in repeated.values() for message in messages])
    upload = request.FILES.get("file")
    text = request.POST.get("text", "")
    system = "us" if request.POST.get("units") == "us" else "si"
    try:
        if upload is not None and is_bundle_upload(upload):
            return course_from_upload(upload)  # an EHR export: a FHIR Bundle (.json)
        if upload is not None:
            sheet = read_upload(upload, name=upload.name)
        elif text.strip():
            sheet = read_pasted(text)
        else:
            raise _PageError([_("Paste the rows of a sheet, or choose an .xlsx or .csv file.")])
        if not sheet.rows:
            raise _PageError([_("The sheet has a header row but no data rows.")])
        return sheet_course(sheet, system=system)  # the live limits, as the form's
    except SheetError as error:
        raise _PageError(error.problems) from None


def _can_validate(course: Course) -> bool:
    """A cohort with CRS grades: each day's outcome is known from the grade k days later."""
    return course.is_cohort and any(r.crs_grade is not None for r in course.rows)


def _seed(text) -> int:
    try:
        seed = int(str(text).strip())
    except (TypeError, ValueError):
        return DEFAULT_SEED
    return seed if 0 <= seed < 2 ** 32 else DEFAULT_SEED


def _page_context() -> dict:
    return {"horizon_titles": [(h, str(HORIZON_TITLES[h])) for h in HORIZONS],
            "prediction_log_on": bool(getattr(settings, "PRCRS_PREDICTION_LOG", True)),
            "other_languages": [(code, translation.get_language_info(code)["name_local"])
                                for code, _name in settings.LANGUAGES],
            "max_rows": getattr(settings, "PRCRS_SHEET_MAX_ROWS", 10_000),
            "max_megabytes": f"{getattr(settings, 'PRCRS_SHEET_MAX_BYTES', 5 << 20) / 2 ** 20:g}"}


def _attachment(data: bytes, content_type: str, filename: str) -> HttpResponse:
    response = HttpResponse(data, content_type=content_type)
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


# ----------------------------------------------------------------------------- one course


@dataclass(frozen=True)
class CellView:
    """One day and horizon: the probability, the no-lab reference, which file answered."""

    estimate: Estimate
    combination: str
    model_version: str
    reference: Estimate | None
    contributions: str = ""  # the largest contributions, in points (predictor.explanations)
    frequency: str = ""  # "about 7 in 100" (predictor.risk_words)


@dataclass
class DayView:
    row: int
    day: int | None
    crs_grade: int | None
    cells: list = field(default_factory=list)  # CellView or None per horizon
    imputed: list = field(default_factory=list)
    ignored: list = field(default_factory=list)
    unused: list = field(default_factory=list)
    errors: list = field(default_factory=list)
    notes: list = field(default_factory=list)  # inputs beyond the training; labs add nothing


def _factor_names() -> dict[str, str]:
    """Factor key -> name in the active language, in catalogue order (looked up once per
    request: the live catalogue may be edited in the admin)."""
    catalogue = live_catalogue(REGISTRY.snapshot().stamp)
    return {f.key: str(f.name) for f in sorted(catalogue.factors, key=lambda f: f.position)}


def _names(names: dict[str, str], keys) -> list[str]:
    return [name for key, name in names.items() if key in keys]


def _row_errors(names: dict[str, str], row, outcome) -> list[str]:
    messages = []
    for key, errors in outcome.errors.items():
        for message in errors:
            column = None if key == "__all__" else names.get(key, key)
            messages.append(str(Problem(message, row=row.row, column=column)))
    return messages


def _course_view(names: dict[str, str], rows, outcomes) -> dict:
    days: list[DayView] = []
    drivers = course_contributions(outcomes)
    for row, outcome in zip(rows, outcomes):
        view = DayView(row=row.row, day=row.day, crs_grade=row.crs_grade)
        if not outcome.ok:
            view.errors = _row_errors(names, row, outcome)
            view.cells = [None] * len(HORIZONS)
        else:
            by_horizon = {p.horizon: p for p in outcome.predictions}
            imputed, ignored, unused = set(), set(), set()
            for h in HORIZONS:
                p = by_horizon.get(h)
                if p is None:
                    view.cells.append(None)
                    continue
                ref = p.no_lab_reference
                view.cells.append(CellView(
                    estimate=estimate(p.probability, p.interval), combination=p.combination,
                    model_version=p.model_version,
                    reference=estimate(ref.probability, ref.interval) if ref is not None
                    else None, contributions=drivers.get(id(p), ""),
                    frequency=short_frequency(p.probability)))
                imputed |= set(p.imputed)
                ignored |= set(p.ignored)
                unused |= set(p.unused)
            view.imputed, view.ignored, view.unused = (
                _names(names, imputed), _names(names, ignored), _names(names, unused))
            view.notes = prediction_notes(outcome.predictions)
        days.append(view)
    return {"days": days, "risk_chart": _risk_chart(rows, outcomes),
            "lab_charts": _lab_charts(rows)}


def _risk_chart(rows, outcomes):
    series = []
    for h in HORIZONS:
        probs, low, high, refs = [], [], [], []
        for outcome in outcomes:
            p = next((p for p in outcome.predictions if p.horizon == h), None)
            probs.append(None if p is None else p.probability)
            low.append(None if p is None else p.interval[0])
            high.append(None if p is None else p.interval[1])
            ref = p.no_lab_reference if p is not None else None
            refs.append(None if ref is None else ref.probability)
        series.append(RiskSeries(label=str(HORIZON_TITLES[h]), probabilities=probs, low=low,
                                 high=high,
                                 reference=refs if any(r is not None for r in refs) else None))
    if not any(v is not None for s in series for v in s.probabilities):
        return None
    return risk_chart(
        chart_id="course-risk", title=_("Risk of severe CRS over the days"),
        description=_("Probability of severe CRS (grade ≥ 3) per horizon on each day of the "
                      "course, with its 95 % interval; dashed: the estimate from CRS grade "
                      "and day alone, without lab values."),
        days=[r.day for r in rows], series=series, x_label=_("Day since infusion"),
        y_label=_("Probability"), reference_label=_("Without lab values"),
        band_label=_("95 % interval"))


def _lab_charts(rows) -> list:
    catalogue = live_catalogue(REGISTRY.snapshot().stamp)
    charts = []
    for key in LAB_CHART_KEYS:
        values = [r.values.get(key) for r in rows]
        if not any(v is not None for v in values):
            continue
        factor, spec = catalogue.by_key[key], FACTORS_BY_KEY[key]
        name = str(factor.name)
        charts.append(lab_chart(
            chart_id=f"course-lab-{key.replace('_', '-')}", title=name,
            description=_("%(factor)s on each day of the course, in %(unit)s; shaded: the "
                          "typical range.") % {"factor": name, "unit": str(factor.unit)},
            days=[r.day for r in rows], values=values, x_label=_("Day since infusion"),
            y_label=f"{name} ({factor.unit})", typical_range=tuple(spec.typical),
            range_label=_("Typical range")))
    return charts


# ----------------------------------------------------------------------------- cohort list


@dataclass(frozen=True)
class PatientView:
    patient: str
    rows: int
    first_day: int | None
    last_day: int | None
    failed: int
    peaks: list  # per horizon: (Estimate, day) or None


def _patient_views(course: Course, outcomes) -> list[PatientView]:
    outcome_of = {o.id: o for o in outcomes}
    views = []
    for patient, rows in course.patients().items():
        peaks = []
        for h in HORIZONS:
            best = None
            for row in rows:
                p = next((p for p in outcome_of[row.row].predictions if p.horizon == h), None)
                if p is not None and (best is None or p.probability > best[0].probability):
                    best = (p, row.day)
            peaks.append(None if best is None else (estimate(best[0].probability,
                                                             best[0].interval), best[1]))
        days = [r.day for r in rows if r.day is not None]
        views.append(PatientView(patient=patient, rows=len(rows),
                                 first_day=min(days) if days else None,
                                 last_day=max(days) if days else None,
                                 failed=sum(not outcome_of[r.row].ok for r in rows), peaks=peaks))
    return views


# ----------------------------------------------------------------------------- downloads


def _download(fmt: str, names: dict[str, str], rows, outcomes, is_cohort: bool,
              patient: str) -> HttpResponse:
    language = translation.get_language()
    columns, table = _result_table(names, rows, outcomes, is_cohort)
    name = "prcrs-course" + (f"-{_safe_name(patient)}" if patient else "")
    if fmt == "csv":
        return _attachment(results_to_csv(table, language=language, columns=columns),
                           "text/csv; charset=utf-8", f"{name}.csv")
    return _attachment(results_to_xlsx(table, language=language, columns=columns,
                                       title=_("Predictions")), XLSX, f"{name}.xlsx")


def _safe_name(text: str) -> str:
    kept = "".join(ch if ch.isascii() and (ch.isalnum() or ch in "-_") else "_" for ch in text)
    return kept[:40] or "patient"


def prediction_notes(predictions) -> list[str]:
    """What a day's answers must say beside their numbers, each sentence once: inputs beyond
    what the files were trained on, and where the no-lab reference leads because the labs add
    nothing (the labs + context number then follows)."""
    notes: list[str] = []
    for p in predictions:
        for warning in p.range_warnings:
            if str(warning.message) not in notes:
                notes.append(str(warning.message))
        if p.with_labs is not None:
            notes.append(str(_("%(horizon)s: the labs do not change the estimate; shown without "
                               "lab values (with them: %(percent)s %%).") % {
                "horizon": HORIZON_TITLES[p.horizon],
                "percent": estimate(p.with_labs.probability, p.with_labs.interval).shown}))
    return notes


def _result_table(names: dict[str, str], rows, outcomes, is_cohort: bool):
    """(columns, row dicts): one line per sheet row, the horizons side by side."""
    columns = ([("patient", _("Patient"))] if is_cohort else []) + [
        ("row", _("Sheet row")), ("day", _("Day")), ("crs_grade", _("CRS grade"))]
    for h in HORIZONS:
        title = str(HORIZON_TITLES[h])
        columns += [(f"p{h}", _("%(horizon)s: probability (%%)") % {"horizon": title}),
                    (f"low{h}", _("%(horizon)s: 95 %% interval, low (%%)") % {"horizon": title}),
                    (f"high{h}", _("%(horizon)s: 95 %% interval, high (%%)") % {
                        "horizon": title}),
                    (f"ref{h}", _("%(horizon)s: without lab values (%%)") % {"horizon": title}),
                    (f"combination{h}", _("%(horizon)s: combination") % {"horizon": title}),
                    (f"model{h}", _("%(horizon)s: model version") % {"horizon": title})]
    columns += input_columns(rows, names)  # what produced each prediction (issue 16)
    columns += [("imputed", _("Filled with the training median")),
                ("ignored", _("Ignored")), ("notes", _("Notes")),
                ("errors", _("Why this row was not scored"))]
    table = []
    for row, outcome in zip(rows, outcomes):
        line = {"patient": row.patient, "row": row.row, "day": row.day,
                "crs_grade": row.crs_grade, **input_cells(row)}
        imputed, ignored = set(), set()
        for p in outcome.predictions:
            h = p.horizon
            # Never 0 or 100 in a sheet: "< 1" / "> 99" where one decimal would read so.
            line.update({f"p{h}": sheet_percent(p.probability),
                         f"low{h}": sheet_percent(p.interval[0]),
                         f"high{h}": sheet_percent(p.interval[1]),
                         f"ref{h}": sheet_percent(reference_of(p)), f"combination{h}": p.combination,
                         f"model{h}": p.model_version})
            imputed |= set(p.imputed)
            ignored |= set(p.ignored)
        line["imputed"] = ", ".join(_names(names, imputed))
        line["ignored"] = ", ".join(_names(names, ignored))
        line["notes"] = " ".join(prediction_notes(outcome.predictions))
        line["errors"] = "; ".join(_row_errors(names, row, outcome))
        table.append(line)
    return columns, table


# ----------------------------------------------------------------------------- validation


@dataclass(frozen=True)
class MetricView:
    name: str
    models: str
    reference: str
    difference: str


@dataclass(frozen=True)
class SubsetView:
    title: str
    counts: object
    metrics: list
    chart: object


@dataclass(frozen=True)
class HorizonValidationView:
    horizon: int
    title: str
    rows_total: int
    rows_scored: int
    unscored: list  # (reason text, count)
    reference_missing: str
    subsets: list


def _figure(est, digits: int) -> str:
    if est is None:
        return "–"
    if est.value is None:
        return str(UNDEFINED_REASONS.get(est.undefined, est.undefined or "–"))
    text = f"{est.value:.{digits}f}"
    if est.low is not None and est.high is not None:
        text += f" ({est.low:.{digits}f} – {est.high:.{digits}f})"
    return text


def _signed(est, digits: int) -> str:
    if est is None or est.value is None:
        return "–"
    text = f"{est.value:+.{digits}f}"
    if est.low is not None and est.high is not None:
        text += f" ({est.low:+.{digits}f} – {est.high:+.{digits}f})"
    return text


def _subset_view(title: str, subset, horizon: int, key: str) -> SubsetView:
    ref, diff = subset.reference, subset.difference
    metrics = [
        MetricView(_("AUROC (higher is better)"), _figure(subset.models.auroc, 2),
                   _figure(ref.auroc, 2) if ref else "–", _signed(diff.auroc, 2) if diff else "–"),
        MetricView(_("AUPRC (higher is better)"), _figure(subset.models.auprc, 2),
                   _figure(ref.auprc, 2) if ref else "–", _signed(diff.auprc, 2) if diff else "–"),
        MetricView(_("Brier score (lower is better)"), _figure(subset.models.brier, 3),
                   _figure(ref.brier, 3) if ref else "–", _signed(diff.brier, 3) if diff else "–"),
    ]
    series = [CalibrationSeries(_("With lab values (active models)"),
                                [CalibrationPoint.from_bin(b) for b in subset.models.calibration])]
    if ref is not None:
        series.append(CalibrationSeries(_("Without lab values"),
                                        [CalibrationPoint.from_bin(b) for b in ref.calibration]))
    chart = None
    if subset.counts.rows:
        chart = calibration_chart(
            chart_id=f"calibration-{horizon}-{key}",
            title=_("Calibration: %(horizon)s, %(subset)s") % {
                "horizon": HORIZON_TITLES[horizon], "subset": title},
            description=_("Observed rate of severe CRS against the mean predicted probability "
                          "in ten bins, with 95 % bootstrap intervals; the dashed diagonal is "
                          "perfect calibration."),
            series=series, x_label=_("Predicted probability"), y_label=_("Observed rate"),
            diagonal_label=_("Perfect calibration"))
    return SubsetView(title=title, counts=subset.counts, metrics=metrics, chart=chart)


def _validation_view(report) -> list[HorizonValidationView]:
    views = []
    for h in report.horizons:
        subsets = [_subset_view(_("all scored days"), h.all_rows, h.horizon, "all")]
        if h.new_onset is not None:
            subsets.append(_subset_view(_("new onset (CRS grade below 3 today)"), h.new_onset,
                                        h.horizon, "onset"))
        views.append(HorizonValidationView(
            horizon=h.horizon, title=str(HORIZON_TITLES[h.horizon]), rows_total=h.rows_total,
            rows_scored=h.rows_scored,
            unscored=[(str(UNSCORED_REASONS.get(k, k)), n) for k, n in h.unscored.items()],
            reference_missing=str(UNSCORED_REASONS.get(h.reference_missing, ""))
            if h.reference_missing else "", subsets=subsets))
    return views
