"""JSON API under /api/v1/ (no language prefix; the language comes from ?lang= or Accept-Language).

A trailing slash is optional, so clients need not guess (APPEND_SLASH cannot redirect a POST).
"""

from django.urls import re_path

from predictor.api import batch, predict, validate

app_name = "api"
urlpatterns = [
    re_path(r"^predict/?$", predict.predict_view, name="predict"),
    re_path(r"^predict/batch/?$", batch.predict_batch_view, name="predict-batch"),
    re_path(r"^validate/?$", validate.validate_view, name="validate"),
    re_path(r"^catalogue/?$", predict.catalogue_view, name="catalogue"),
]
