"""Database tables: the translated catalogue, model versions per slot, the serving stamp, audit.

The structure of the catalogue (factor order, panel membership, combination ranks) is the model
file contract and is fixed in ``predictor.catalogue``; the database holds what an admin may edit:
texts in both languages (django-modeltranslation adds ``*_zh_hans`` / ``*_en`` columns) and limits.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import F, Q
from django.utils.translation import gettext_lazy as _

from predictor.catalogue import (
    COMBINATION_CODES,
    CONTEXT_BOTH,
    CONTEXT_NONE,
    HORIZONS,
    REFERENCE_COMBINATION,
    slot_label,
)


class Panel(models.Model):
    number = models.PositiveSmallIntegerField(_("number"), unique=True, editable=False)
    key = models.SlugField(_("key"), unique=True, editable=False)
    name = models.CharField(_("name"), max_length=120)

    class Meta:
        ordering = ["number"]
        verbose_name = _("panel")
        verbose_name_plural = _("panels")

    def __str__(self) -> str:
        return f"{self.number}. {self.name}"


class Factor(models.Model):
    key = models.SlugField(_("key"), unique=True, editable=False)
    panel = models.ForeignKey(Panel, on_delete=models.PROTECT, related_name="factors",
                              editable=False, verbose_name=_("panel"))
    position = models.PositiveSmallIntegerField(_("position in model input"), unique=True,
                                                editable=False)
    sheet_column = models.CharField(_("sheet column"), max_length=80, editable=False)
    is_fraction = models.BooleanField(_("entered as a percentage"), default=False, editable=False)
    name = models.CharField(_("name"), max_length=120)
    unit = models.CharField(_("unit"), max_length=40)
    help_text = models.CharField(_("help text"), max_length=300, blank=True)
    hard_min = models.FloatField(_("lowest accepted value"))
    hard_max = models.FloatField(_("highest accepted value"))
    typical_min = models.FloatField(_("typical range from"))
    typical_max = models.FloatField(_("typical range to"))
    # Issue 16 item 5: the warning range, from the development patients (migration 0005);
    # the typical range above is the healthy adult range, shown as information only.
    cart_min = models.FloatField(
        _("unusual for CAR-T patients below"), null=True, blank=True,
        help_text=_("Development patients' 0.5th percentile; empty: the typical range warns."))
    cart_max = models.FloatField(
        _("unusual for CAR-T patients above"), null=True, blank=True,
        help_text=_("Development patients' 99.5th percentile; empty: the typical range warns."))

    class Meta:
        ordering = ["position"]
        verbose_name = _("factor")
        verbose_name_plural = _("factors")
        constraints = [
            models.CheckConstraint(
                condition=Q(hard_min__lte=F("typical_min")) & Q(typical_min__lte=F("typical_max"))
                & Q(typical_max__lte=F("hard_max")),
                name="factor_limits_nested",
            ),
        ]

    def __str__(self) -> str:
        return self.name


class Combination(models.Model):
    code = models.CharField(_("code"), max_length=4, unique=True, editable=False)
    rank = models.PositiveSmallIntegerField(_("rank"), unique=True, editable=False)
    name = models.CharField(_("name"), max_length=160)

    class Meta:
        ordering = ["rank"]
        verbose_name = _("panel combination")
        verbose_name_plural = _("panel combinations")

    def __str__(self) -> str:
        return f"{self.code} ({self.name})"


HORIZON_CHOICES = [(1, _("tomorrow")), (2, _("the day after tomorrow")), (3, _("in three days"))]
COMBINATION_CHOICES = [(code, code) for code in COMBINATION_CODES] + [
    (REFERENCE_COMBINATION, _("0 (no lab values: the no-lab reference)"))]
CONTEXT_CHOICES = [(CONTEXT_NONE, _("labs only")),
                   (CONTEXT_BOTH, _("labs with CRS grade and day since infusion"))]


class ModelVersion(models.Model):
    """One uploaded (or bundled) model file for a (horizon, combination, context) slot."""

    class State(models.TextChoices):
        VALIDATED = "validated", _("validated")
        ACTIVE = "active", _("active")
        RETIRED = "retired", _("retired")
        REJECTED = "rejected", _("rejected")

    class Source(models.TextChoices):
        BUNDLED = "bundled", _("bundled default")
        UPLOAD = "upload", _("admin upload")

    horizon = models.PositiveSmallIntegerField(_("horizon"), choices=HORIZON_CHOICES)
    combination = models.CharField(_("combination"), max_length=4, choices=COMBINATION_CHOICES)
    # "" = labs only (format version 1, or 2 without context keys); CONTEXT_BOTH = the file also
    # takes today's CRS grade and the day since infusion (format version 2, spec section 8).
    context = models.CharField(_("clinical context"), max_length=32, choices=CONTEXT_CHOICES,
                               default=CONTEXT_NONE, blank=True)
    version = models.PositiveIntegerField(_("version"))
    state = models.CharField(_("state"), max_length=16, choices=State.choices,
                             default=State.VALIDATED)
    source = models.CharField(_("source"), max_length=16, choices=Source.choices,
                              default=Source.UPLOAD)
    sha256 = models.CharField(_("SHA-256"), max_length=64)
    size = models.PositiveIntegerField(_("size in bytes"))
    original_name = models.CharField(_("original file name"), max_length=255, blank=True)
    # Relative to PRCRS_MODELS_DIR; the bytes are also kept in ``content`` so every replica
    # sharing the database can materialise the file (see predictor.model_versions.model_store).
    file_name = models.CharField(_("stored file"), max_length=255)
    content = models.BinaryField(_("file content"), editable=False)
    manifest = models.JSONField(_("manifest"), null=True, blank=True)
    baseline = models.JSONField(_("calibration baseline"), default=list, blank=True,
                                help_text=_("[[probability, severe], ...] from held-out patients"))
    baseline_windows = models.JSONField(_("baseline window settings"), default=dict, blank=True)
    validation_report = models.JSONField(_("validation report"), default=dict, blank=True)
    notes = models.TextField(_("notes"), blank=True)
    uploaded_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True,
                                    on_delete=models.SET_NULL, related_name="+",
                                    verbose_name=_("uploaded by"))
    uploaded_at = models.DateTimeField(_("uploaded at"), auto_now_add=True)
    activated_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True,
                                     on_delete=models.SET_NULL, related_name="+",
                                     verbose_name=_("activated by"))
    activated_at = models.DateTimeField(_("activated at"), null=True, blank=True)

    class Meta:
        ordering = ["horizon", "combination", "context", "-version"]
        verbose_name = _("model version")
        verbose_name_plural = _("model versions")
        permissions = [("activate_modelversion", _("Can activate or roll back model versions"))]
        constraints = [
            models.UniqueConstraint(fields=["horizon", "combination", "context", "version"],
                                    name="one_number_per_version_in_slot"),
            models.UniqueConstraint(fields=["horizon", "combination", "context"],
                                    condition=Q(state="active"),
                                    name="one_active_version_per_slot"),
        ]

    def __str__(self) -> str:
        return self.label

    @property
    def label(self) -> str:
        """The version name shown to users and returned by the API, e.g. ``h1-1234-v3``."""
        return slot_label(self.horizon, self.combination, self.context, self.version)


class ServingState(models.Model):
    """A single row whose ``stamp`` grows whenever what serves changes (activation, catalogue edit).

    Every worker process compares it with the stamp it loaded, a cheap primary-key read, so an
    activation reaches all processes on all machines that share the database.
    """

    stamp = models.PositiveBigIntegerField(default=0)
    changed_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = _("serving state")
        verbose_name_plural = _("serving state")


class AuditEvent(models.Model):
    class Action(models.TextChoices):
        UPLOAD = "upload", _("upload")
        VALIDATION_FAILED = "validation_failed", _("validation failed")
        ACTIVATE = "activate", _("activation")
        ROLLBACK = "rollback", _("rollback")
        REGISTER_BUNDLED = "register_bundled", _("bundled model registered")
        CATALOGUE_EDIT = "catalogue_edit", _("catalogue edited")
        API_KEY_ISSUED = "api_key_issued", _("API key issued")
        API_KEY_REVOKED = "api_key_revoked", _("API key revoked")

    at = models.DateTimeField(_("time"), auto_now_add=True, db_index=True)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True,
                             on_delete=models.SET_NULL, related_name="+", verbose_name=_("user"))
    action = models.CharField(_("action"), max_length=32, choices=Action.choices)
    model_version = models.ForeignKey(ModelVersion, null=True, blank=True,
                                      on_delete=models.SET_NULL, related_name="audit_events",
                                      verbose_name=_("model version"))
    detail = models.JSONField(_("detail"), default=dict, blank=True)

    class Meta:
        ordering = ["-at"]
        verbose_name = _("audit event")
        verbose_name_plural = _("audit trail")


class PredictionLog(models.Model):
    """One served prediction. Holds lab values only: no patient identifiers are ever asked for."""

    at = models.DateTimeField(_("time"), auto_now_add=True, db_index=True)
    horizon = models.PositiveSmallIntegerField(_("horizon"), choices=HORIZON_CHOICES)
    combination = models.CharField(_("combination"), max_length=4)
    model_version = models.CharField(_("model version"), max_length=40)
    raw_probability = models.FloatField(_("raw model probability"))
    probability = models.FloatField(_("actual probability"))
    values = models.JSONField(_("input values"))
    # Today's CRS grade and day since infusion when given ({"crs_grade": 1, "day": 4}), and the
    # no-lab reference's probability shown beside the answer.
    context = models.JSONField(_("clinical context"), null=True, blank=True)
    reference_probability = models.FloatField(_("no-lab reference probability"), null=True,
                                              blank=True)
    channel = models.CharField(_("channel"), max_length=8, default="web")
    # Given when the record is made, so a record that reached both the table and the JSON log
    # (a commit whose answer the outage cut) or two records of the same microsecond are told
    # apart when the log is imported. Null for records made before it existed.
    record_id = models.UUIDField(_("record id"), null=True, blank=True, unique=True,
                                 editable=False)

    class Meta:
        ordering = ["-at"]
        verbose_name = _("prediction log entry")
        verbose_name_plural = _("prediction log")


class ApiKey(models.Model):
    """A key an admin issued to an integrator. Only its SHA-256 is kept: shown once, at issue."""

    name = models.CharField(_("name"), max_length=120,
                            help_text=_("Who uses it, e.g. the integrating system and a contact."))
    prefix = models.CharField(_("key begins with"), max_length=16, editable=False)
    key_hash = models.CharField(_("SHA-256 of the key"), max_length=64, unique=True,
                                editable=False)
    limit = models.PositiveIntegerField(
        _("prediction limit"), null=True, blank=True,
        help_text=_("Predictions per rate-limit window for this key; empty: the site's limit."))
    created_at = models.DateTimeField(_("issued at"), auto_now_add=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True,
                                   on_delete=models.SET_NULL, related_name="+",
                                   editable=False, verbose_name=_("issued by"))
    revoked_at = models.DateTimeField(_("revoked at"), null=True, blank=True, editable=False)
    revoked_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True,
                                   on_delete=models.SET_NULL, related_name="+",
                                   editable=False, verbose_name=_("revoked by"))
    # Usage, added in batches by predictor.access.rate_limits (a few seconds behind at most).
    predictions = models.PositiveBigIntegerField(_("predictions served"), default=0,
                                                 editable=False)
    requests = models.PositiveBigIntegerField(_("requests"), default=0, editable=False)
    refused = models.PositiveBigIntegerField(_("requests refused over the limit"), default=0,
                                             editable=False)
    last_used_at = models.DateTimeField(_("last used at"), null=True, blank=True,
                                        editable=False)

    class Meta:
        ordering = ["-created_at"]
        verbose_name = _("API key")
        verbose_name_plural = _("API keys")

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"


class RateCounter(models.Model):
    """Predictions one client was granted in one fixed window, shared by every replica."""

    client = models.CharField(max_length=80)  # "ip:<address>" or "key:<id>"
    window_start = models.BigIntegerField()  # Unix time the window began
    granted = models.PositiveBigIntegerField(default=0)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["client", "window_start"],
                                               name="one_counter_per_client_window")]
        indexes = [models.Index(fields=["window_start"], name="ratecounter_window")]


class CdsTokenUse(models.Model):
    """A CDS Hooks JWT already seen (issuer and ``jti``), kept until it expires, so a replayed
    token is refused by every worker and replica (predictor.cds_hooks.auth)."""

    token = models.CharField(max_length=255, unique=True)  # "<iss>|<jti>", cut to fit
    expires_at = models.BigIntegerField()  # the token's exp (Unix time)

    class Meta:
        indexes = [models.Index(fields=["expires_at"], name="cdstokenuse_expiry")]
