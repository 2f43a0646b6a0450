"""Which number a labs + context answer leads with (spec section 8, issue 15 item 5).

A context file says in its manifest whether its labs add information over the no-lab reference
(``labs_add_information``, computed in training on the family that ships). Three cases:
- True: the labs + context file's probability is the headline;
- False: the no-lab reference's probability is the headline (the page says so), and the labs +
  context number stays available as ``with_labs``;
- absent or not a boolean (e.g. an uploaded file): neither claim is made ("not shown"), the
  labs + context number is the headline.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass


@dataclass(frozen=True)
class FileAnswer:
    """One file's calibrated answer beside the headline: the no-lab reference's beside a labs +
    context answer (``prediction.ReferencePrediction``), or the labs + context file's own where
    the reference leads (``WithLabs``)."""

    probability: float
    interval: tuple[float, float]
    raw_probability: float
    reference_n: int
    reference_severe: int
    model_version: str

    def as_json(self) -> dict:
        return {"probability": self.probability, "interval": list(self.interval),
                "raw_probability": self.raw_probability,
                "reference": {"n": self.reference_n, "severe": self.reference_severe},
                "model_version": self.model_version}


WithLabs = FileAnswer  # the labs + context file's own answer, when the reference leads


def labs_add_information(model) -> bool | None:
    """The flag of a serving labs + context file; None where it makes no claim (absent, not a
    boolean, or not a context file)."""
    if not getattr(model, "context", ""):
        return None
    flag = model.manifest.get("labs_add_information")
    return flag if isinstance(flag, bool) else None


def reference_leads(labs_flag: bool | None, *, reference_given: bool,
                    context_model_missing: bool) -> bool:
    """Whether the no-lab reference's number leads a labs + context answer: only where the file
    that answered says its labs add nothing and the reference answered beside it. Decided before
    the forwards too (``prediction.predict`` explains only the file that leads)."""
    return labs_flag is False and reference_given and not context_model_missing


def with_reference_headline(prediction):
    """``prediction`` (a ``HorizonPrediction``) led by the no-lab reference's number where its
    file says the labs add nothing; unchanged otherwise."""
    ref = prediction.no_lab_reference
    if not reference_leads(prediction.labs_add_information, reference_given=ref is not None,
                           context_model_missing=prediction.context_model_missing):
        return prediction
    own = WithLabs(prediction.probability, tuple(prediction.interval),
                   prediction.raw_probability, prediction.reference_n,
                   prediction.reference_severe, prediction.model_version)
    return dataclasses.replace(
        prediction, probability=ref.probability, interval=tuple(ref.interval),
        raw_probability=ref.raw_probability, reference_n=ref.reference_n,
        reference_severe=ref.reference_severe, model_version=ref.model_version, with_labs=own)
