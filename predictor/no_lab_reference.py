"""The no-lab reference, defined once for training and serving (spec section 8).

Its inputs are today's CRS grade and the day since infusion (``CONTEXT_KEYS``, no lab value), it
serves from the slot (horizon, ``REFERENCE_COMBINATION``, ``CONTEXT``), and its family is a
logistic regression on the grade (one number, weight >= 0: risk never falls as the grade rises)
and a linear day term held within the days it was trained on. Training
(``predictor.training.context.fit_reference``) fits exactly this; serving looks the file up with
``COMBINATION`` and ``CONTEXT``.
"""

from __future__ import annotations

from predictor.catalogue import CONTEXT_BOTH, CONTEXT_KEYS, REFERENCE_COMBINATION

COMBINATION = REFERENCE_COMBINATION
INPUTS: tuple[str, ...] = CONTEXT_KEYS
CONTEXT = CONTEXT_BOTH
C = 1.0  # L2 penalty of the logistic regression (sklearn's convention: larger = weaker)
FAMILY = ("Monotone logistic regression on today's CRS grade (one number, weight >= 0: risk "
          "never falls as the grade rises) and the day since infusion (linear in d = day / 10, "
          "the day held within the trained days), L2 penalty C = 1")
