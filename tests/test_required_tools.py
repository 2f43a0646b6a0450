"""The rule for tests that need a system tool (tests/required_tools.py): with ``CI`` set, a
missing tool fails the test (and scripts/with_postgres.sh's run); without it, the test is
skipped with the reason. Each case runs a real pytest (or the real script) in a subprocess
with a tool that does not exist on any machine."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.required_tools import in_ci

ROOT = Path(__file__).resolve().parent.parent
MISSING = "prcrs-no-such-tool"

# A test module as the real ones are written: a module-wide mark, a fixture that checks, and
# a test that needs nothing (it must pass either way).
INNER = f'''
import shutil

import pytest

from tests.required_tools import requires_tool, tool_missing

PROBLEM = None if shutil.which("{MISSING}") else "{MISSING} is not installed"


@requires_tool(PROBLEM)
def test_marked():
    pass


@pytest.fixture
def tool():
    if PROBLEM is not None:
        tool_missing(PROBLEM)


def test_through_a_fixture(tool):
    pass


def test_needing_nothing():
    pass
'''


def environment(ci: str | None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("CI", "DJANGO_SETTINGS_MODULE")}
    if ci is not None:
        env["CI"] = ci
    return env


def run_inner(tmp_path: Path, ci: str | None) -> subprocess.CompletedProcess:
    test_file = tmp_path / "test_inner.py"
    test_file.write_text(INNER)
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-rs", "-p", "no:cacheprovider",
         "-p", "no:django", "-p", "tests.required_tools", "-c", os.devnull,
         "--rootdir", str(tmp_path), str(test_file)],
        cwd=ROOT, env=environment(ci), capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize("value, expected", [
    (None, False), ("", False), ("0", False), ("false", False), ("No", False), ("off", False),
    ("true", True), ("1", True), ("yes", True), ("TRUE", True)])
def test_what_counts_as_ci(value, expected):
    assert in_ci(environment(value)) is expected


def test_under_ci_a_missing_tool_fails_the_tests_that_need_it(tmp_path):
    result = run_inner(tmp_path, "true")
    output = result.stdout + result.stderr
    assert result.returncode == 1, output
    # Failed in setup (pytest counts them as errors): the run fails either way.
    assert "1 passed, 2 errors" in output, output
    assert f"{MISSING} is not installed; CI is set" in output, output
    assert "skipped" not in output, output


def test_without_ci_a_missing_tool_skips_with_the_reason(tmp_path):
    result = run_inner(tmp_path, None)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert "1 passed, 2 skipped" in output, output
    assert output.count("SKIPPED [1] ") == 2 and f"{MISSING} is not installed" in output, output


@pytest.mark.parametrize("ci, status, verdict", [("true", 1, "FAILED"), (None, 0, "SKIPPED")])
def test_the_postgresql_run_fails_under_ci_when_postgresql_is_missing(tmp_path, ci, status,
                                                                      verdict):
    marker = tmp_path / "ran"
    env = environment(ci) | {"PRCRS_PG_ROOT": str(tmp_path / "no-postgresql"),
                             "PRCRS_PG_INSTALL": "0"}
    result = subprocess.run([str(ROOT / "scripts" / "with_postgres.sh"), "touch", str(marker)],
                            cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode == status, result.stderr
    assert f"{verdict}: PostgreSQL is not installed" in result.stderr, result.stderr
    assert not marker.exists()  # the suite itself never ran
