"""What keeps a gunicorn worker under the 512 MiB a request may make it hold (issue 18), checked
without a server (tests/test_sheet_bounds.py measures the real worker's peak):

- a worker imports no training stack: the bedside-scores page read its figures through the
  module that computes them (LightGBM, scikit-learn, pandas) and the calibration maps imported
  scikit-learn for its pool-adjacent-violators solver, ~100 MiB of every worker at start;
- a CSV is read line by line as the reader needs it: five million blank lines no longer become a
  list of five million strings (~40 MiB) and a four-bytes-a-character copy (~20 MiB);
- the lazily found first line and the lazily cut lines are exactly what ``str.splitlines`` and
  ``io.StringIO(text, newline="")`` gave, so every sheet reads as before.
"""

from __future__ import annotations

import io
import os
import subprocess
import sys
import tracemalloc
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bench.hostile_sheets import csv_blank_lines
from predictor.scoring.calibration_methods import nondecreasing
from predictor.sheets import SheetError, read_upload
from predictor.sheets.text import first_visible_line, physical_lines

ROOT = Path(__file__).resolve().parent.parent
TRAINING_STACK = ("sklearn", "lightgbm", "pandas", "scipy.stats")

# What a worker imports before its first request (gunicorn.conf.py's post_worker_init): every
# view through the URLconf, the registry, the catalogue, the calibration maps.
_WORKER_IMPORTS = """
import sys
import django
django.setup()
from django.urls import get_resolver
get_resolver().url_patterns
import predictor.live_catalogue, predictor.scoring.long_lived, predictor.scoring.registry
import predictor.scoring.calibration
print("imported:", " ".join(sorted(m for m in sys.modules if m.split(".")[0] in {"sklearn", "lightgbm",
      "pandas"} or m.startswith("scipy.stats"))))
"""


def test_a_worker_imports_no_training_stack():
    env = {k: v for k, v in os.environ.items() if not k.startswith("DJANGO_")} | {
        "DJANGO_SETTINGS_MODULE": "prcrs_site.test_settings"}
    done = subprocess.run([sys.executable, "-c", _WORKER_IMPORTS], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    [line] = [x for x in done.stdout.splitlines() if x.startswith("imported:")]
    imported = line.removeprefix("imported:").strip()
    assert imported == "", f"a worker imports {imported[:500]} ({TRAINING_STACK} are training's)"


def test_five_million_blank_csv_lines_are_refused_within_the_memory_of_the_file():
    data = csv_blank_lines()
    tracemalloc.start()
    try:
        with pytest.raises(SheetError):
            read_upload(data, name="blank.csv")
        _current, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    # The decoded text is one copy of the file (5 MB); before: 66 MiB.
    assert peak < 2 * len(data), peak / 2**20


# Line ends of every kind (\r\n comes of \r next to \n), other whitespace, cells, quotes.
_TEXT = st.text(st.sampled_from(["a", ",", ";", "\t", " ", "\n", "\r", "\v", "\f", "\x1c", "\x1d",
                                 "\x1e", "\x1f", "\x85", "\u2028", "\u2029", "\u3000", "\xa0",
                                 '"', "1"]), max_size=30)


@settings(max_examples=2000, deadline=None)
@given(_TEXT)
def test_the_first_line_and_the_lines_are_what_splitlines_and_stringio_gave(text):
    assert first_visible_line(text) == next(
        (line for line in text.splitlines() if line.strip()), "")
    assert list(physical_lines(text)) == list(io.StringIO(text, newline=""))


def test_the_pooled_fit_is_scikit_learns_to_the_last_bit():
    from sklearn import isotonic  # training's dependency (requirements.txt), not a worker's
    rng = np.random.default_rng(7)
    for _ in range(300):
        y = rng.random(int(rng.integers(1, 300)))
        w = rng.integers(1, 6, len(y)).astype(float)
        assert np.array_equal(nondecreasing(y[::-1]),
                              isotonic.isotonic_regression(y[::-1], increasing=True))
        assert np.array_equal(nondecreasing(y, w),
                              isotonic.isotonic_regression(y, sample_weight=w, increasing=True))
