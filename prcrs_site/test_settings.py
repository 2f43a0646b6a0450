"""Settings for the test suite: the real settings with per-run scratch space and no surprises.

Model files go to a temporary directory, bundled defaults are not registered (tests install the
tiny models they need), and every request checks the serving stamp so an activation is visible
at once.
"""

import tempfile
from pathlib import Path

from prcrs_site.settings import *  # noqa: F403

_SCRATCH = Path(tempfile.mkdtemp(prefix="prcrs-tests-"))
PRCRS_MODELS_DIR = _SCRATCH / "models"
PRCRS_REGISTER_BUNDLED_MODELS = False
PRCRS_BACKGROUND_REFRESH = False
PRCRS_STAMP_CHECK_SECONDS = 0.0
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]  # fast logins in tests
# Tests render pages without running collectstatic first: plain storage needs no manifest.
STORAGES = {**STORAGES, "staticfiles": {  # noqa: F405
    "BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"}}
# In-process tests read the prediction log right after a request: write it synchronously.
# (Tests against gunicorn run the production default, the background writer.)
PRCRS_PREDICTION_LOG_ASYNC = False
