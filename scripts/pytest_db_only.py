"""pytest plugin: keep only the tests that touch the database (``-p scripts.pytest_db_only``).

For the second CI run on PostgreSQL when the whole suite twice would take too long: a test
touches the database when it carries pytest-django's ``django_db`` mark or uses (directly or
through other fixtures) the ``db``/``transactional_db`` fixtures. (The gunicorn fault tests
bring their own SQLite file, so they do not count.)
"""

from __future__ import annotations

DB_FIXTURES = {"db", "transactional_db", "django_db_reset_sequences",
               "django_db_serialized_rollback", "admin_user", "admin_client"}


def touches_database(item) -> bool:
    if item.get_closest_marker("django_db"):
        return True
    return bool(DB_FIXTURES & set(getattr(item, "fixturenames", ())))


def pytest_collection_modifyitems(config, items) -> None:
    kept = [item for item in items if touches_database(item)]
    dropped = [item for item in items if not touches_database(item)]
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = kept
