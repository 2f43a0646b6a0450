"""Tests that need a system tool (Chromium and its driver, nginx, podman, PostgreSQL).

Where the tool is missing, such a test is skipped with the reason on a developer's machine, but
FAILS when the ``CI`` variable is set (``.ci/run`` sets it): a CI run that skipped them would
pass without testing what it claims to test. ``.ci/run`` and the Makefile install every tool.

- ``requires_tool(problem)``: a mark for a test or a module (``pytestmark``); ``problem`` is
  None when the tool is there, else why it is not (the ``*_problem()`` functions below).
- ``tool_missing(reason)``: the same decision from inside a test or a fixture.
- ``python3 -m tests.required_tools REASON``: the same decision for a shell script
  (scripts/with_postgres.sh): exit status 1 under CI, 0 elsewhere, the reason on stderr.

The hooks below are imported by tests/conftest.py; pytest is imported only where it is used,
so that the command line runs with a bare ``python3``.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
POSTGRESQL_ROOT = Path("/usr/lib/postgresql")
# What ``CI`` may be set to and still mean "not CI" (an empty or explicitly false value).
CI_OFF = {"", "0", "false", "no", "off"}


def in_ci(environ=os.environ) -> bool:
    return environ.get("CI", "").strip().lower() not in CI_OFF


def failure_text(reason: str) -> str:
    return f"{reason}; CI is set, so a test whose tool is missing fails instead of skipping"


def tool_missing(reason: str):
    """End the current test: a failure under CI, a skip with the reason elsewhere."""
    import pytest

    if in_ci():
        pytest.fail(failure_text(reason), pytrace=False)
    pytest.skip(reason)


def requires_tool(problem: str | None):
    import pytest

    return pytest.mark.requires_tool(problem)


def pytest_configure(config) -> None:
    config.addinivalue_line(
        "markers", "requires_tool(problem): needs a system tool; problem is None when it is "
        "there, else the reason (skipped locally, failed under CI)")


def pytest_runtest_setup(item) -> None:
    for mark in item.iter_markers("requires_tool"):
        if mark.args and mark.args[0]:
            tool_missing(mark.args[0])


# --- the tools -------------------------------------------------------------------------------

def chromium_problem() -> str | None:
    if CHROMIUM.exists() and CHROMEDRIVER.exists():
        return None
    return ("Debian's chromium and chromium-driver are not installed "
            "(make system-packages installs them)")


def nginx_problem() -> str | None:
    from tests.nginx_proxy import nginx_available

    if nginx_available():
        return None
    return "nginx is not installed (make scaleout-packages installs Debian's nginx)"


def postgresql_bin() -> Path | None:
    """The newest installed PostgreSQL server's bin folder (Debian's layout), if any."""
    def major(initdb: Path) -> int:
        name = initdb.parent.parent.name
        return int(name) if name.isdigit() else 0

    found = sorted(POSTGRESQL_ROOT.glob("*/bin/initdb"), key=major)
    return found[-1].parent if found else None


def postgresql_problem() -> str | None:
    if postgresql_bin() is not None:
        return None
    return ("PostgreSQL is not installed (make scaleout-packages installs Debian's postgresql; "
            "scripts/with_postgres.sh installs it too)")


def podman_problem() -> str | None:
    if shutil.which("podman") is None:
        return "podman is not installed (make test-container installs Debian's podman and runc)"
    result = subprocess.run(["podman", "info"], capture_output=True, text=True, timeout=60)
    if result.returncode != 0:
        return f"podman cannot run here: {result.stderr.strip()[-300:]}"
    return None


def main(argv: list[str]) -> int:
    reason = " ".join(argv) or "a tool is missing"
    if in_ci():
        print(f"FAILED: {failure_text(reason)}", file=sys.stderr)
        return 1
    print(f"SKIPPED: {reason}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
