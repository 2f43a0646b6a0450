"""Language-prefixed pages (owned by the web UI)."""

urlpatterns: list = []
