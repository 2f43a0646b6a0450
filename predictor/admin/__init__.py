"""Django admin, one module per concern; importing this package registers every model admin.

- ``catalogue``: factor, panel and combination texts per language, and the plausibility limits;
- ``model_versions``: the model version list and pages, with ``uploads`` (the add page is the
  upload form) and ``activation`` (the confirmation page, activation and rollback);
- ``audit`` and ``prediction_log``: read-only records (``read_only``), the log exported as CSV;
- ``api_keys``: issuing and revoking API keys.

The admin only adapts HTTP to the domain functions:
``predictor.model_versions.upload_checks.submit_upload`` checks and records an upload,
``predictor.model_versions.versions.activate`` switches the serving version.
Activation and rollback need the ``predictor.activate_modelversion`` permission and a POST
from a confirmation page; uploads need the add permission; the audit trail and the prediction
log are read-only.
"""

# Imported for their @admin.register side effect.
from predictor.admin import (  # noqa: F401
    api_keys,
    audit,
    catalogue,
    model_versions,
    prediction_log,
)
