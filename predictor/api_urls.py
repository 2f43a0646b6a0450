"""JSON API under /api/v1/ (no language prefix)."""

urlpatterns: list = []
