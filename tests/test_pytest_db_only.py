"""The PostgreSQL run's selection (scripts/pytest_db_only.py, ``make test-postgres PG_TESTS=db``,
which ``.ci/run`` uses): it keeps every test that reaches the database, however it asks for it,
and drops only tests that cannot. A real pytest collects a module written for the purpose."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

MODULE = '''
import pytest


@pytest.fixture
def saved_user(db):
    return None


@pytest.mark.django_db
def test_marked():
    pass


@pytest.mark.django_db(transaction=True)
class TestMarkedClass:
    def test_in_class(self):
        pass


def test_db_fixture(db):
    pass


def test_transactional(transactional_db):
    pass


def test_through_another_fixture(saved_user):
    pass


def test_admin_client(admin_client):
    pass


def test_plain_function():
    pass


def test_plain_fixture(tmp_path):
    pass
'''


def collected(tmp_path: Path, *plugin: str) -> set[str]:
    module = tmp_path / "test_selection_sample.py"
    module.write_text(MODULE, encoding="utf-8")
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-c", str(ROOT / "pytest.ini"), "--rootdir", str(ROOT),
         "--collect-only", "-q", "-p", "no:cacheprovider", *plugin, str(module)],
        cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    return {line.rsplit("::", 1)[-1] for line in result.stdout.splitlines() if "::" in line}


def test_the_database_selection_keeps_every_test_that_reaches_the_database(tmp_path):
    everything = collected(tmp_path)
    kept = collected(tmp_path, "-p", "scripts.pytest_db_only")
    assert kept == {"test_marked", "test_in_class", "test_db_fixture", "test_transactional",
                    "test_through_another_fixture", "test_admin_client"}
    assert everything - kept == {"test_plain_function", "test_plain_fixture"}
