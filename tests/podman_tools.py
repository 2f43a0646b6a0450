"""podman for the image tests (tests/test_container.py, tests/test_kubernetes_pods.py): the
image built from the working tree, and podman called with its output kept for the failure."""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
IMAGE = os.environ.get("PRCRS_TEST_IMAGE", "prcrs-web:test")


def podman(*args: str, timeout: float = 120, check: bool = True) -> subprocess.CompletedProcess:
    result = subprocess.run(["podman", *args], capture_output=True, text=True, timeout=timeout)
    if check and result.returncode != 0:
        raise AssertionError(f"podman {' '.join(args)} -> {result.returncode}\n"
                             f"{result.stdout[-2000:]}\n{result.stderr[-2000:]}")
    return result


def build_image(tag: str = IMAGE) -> str:
    """The image built from the working tree by scripts/container_build.sh (a cached build
    when nothing changed); prints the build time."""
    started = time.monotonic()
    result = subprocess.run([str(ROOT / "scripts" / "container_build.sh"), tag], cwd=ROOT,
                            capture_output=True, text=True, timeout=1800)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    print(f"\nimage build: {time.monotonic() - started:.1f} s; "
          f"{result.stdout.strip().splitlines()[-1]}")
    return tag
