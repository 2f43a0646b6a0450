"""CDS Hooks under /cds-services (no language prefix; Accept-Language chooses the language)."""

from django.urls import re_path

from predictor.cds_hooks import views

app_name = "cds_hooks"
urlpatterns = [
    re_path(r"^$", views.discovery_view, name="discovery"),
    re_path(r"^(?P<service_id>[A-Za-z0-9._-]+)/?$", views.hook_view, name="hook"),
]
