"""What the result page shows beside each probability to explain it (issue 16): why this number
(the contributions of the entered values). Thin: the numbers come from
``predictor.explanations``; this only shapes them for the template."""

from __future__ import annotations

from dataclasses import dataclass

from predictor.explanations.wording import sentence, value_text, whole_points


@dataclass(frozen=True)
class ContributionView:
    text: str  # "IL-6 48 pg/mL raised the estimate by 9 points"
    direction: str  # "up", "down" (for the arrow and its colour)


@dataclass(frozen=True)
class Explained:
    """One horizon's explanation: contributions of at least one whole point, largest first,
    then the values that moved the estimate by less than one point."""

    contributions: tuple[ContributionView, ...] = ()
    small: tuple[str, ...] = ()

    @property
    def any(self) -> bool:
        return bool(self.contributions or self.small)


def explained(result, factors) -> Explained:
    """``result``: a HorizonPrediction; ``factors``: the live catalogue's factors by key."""
    large, small = [], []
    for c in result.contributions:
        if whole_points(c) == 0:
            small.append(value_text(c.key, c.value, factors))
        else:
            large.append(ContributionView(sentence(c, factors), "up" if c.change > 0 else "down"))
    return Explained(tuple(large), tuple(small))
