"""JSON API under /api/v1/ (no language prefix; the language comes from ?lang= or Accept-Language).

A trailing slash is optional, so clients need not guess (APPEND_SLASH cannot redirect a POST).
"""

from django.urls import re_path

from predictor import api

app_name = "api"
urlpatterns = [
    re_path(r"^predict/?$", api.predict_view, name="predict"),
    re_path(r"^catalogue/?$", api.catalogue_view, name="catalogue"),
]
