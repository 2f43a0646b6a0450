"""Refusals as FHIR OperationOutcomes: every 4xx of the FHIR and CDS Hooks endpoints names the
resource and the element at fault (``expression``, FHIRPath) in the request's language."""

from __future__ import annotations

from dataclasses import dataclass, field

from fhir.resources.R4B.operationoutcome import OperationOutcome


@dataclass(frozen=True)
class Issue:
    """One problem: an OperationOutcome issue ``code`` (invalid, value, structure, conflict,
    too-long, not-supported, security, throttled, transient...), its text and where it is."""

    code: str
    diagnostics: object  # a (lazy) message, rendered in the active language
    expression: tuple[str, ...] = ()
    severity: str = "error"


def say(template, **params) -> str:
    """``template % params`` in the active language (the views run inside the request's)."""
    return str(template) % {name: str(value) for name, value in params.items()}


class FhirRefusal(Exception):
    """A request refused with ``status`` (4xx, or 503) and its issues."""

    def __init__(self, status: int, issues: list[Issue], headers: dict | None = None):
        super().__init__([str(i.diagnostics) for i in issues])
        self.status = status
        self.issues = issues
        self.headers = headers or {}

    @classmethod
    def one(cls, status: int, code: str, message, *expression: str) -> FhirRefusal:
        return cls(status, [Issue(code, message, tuple(expression))])


def operation_outcome(issues: list[Issue]) -> OperationOutcome:
    """The OperationOutcome of ``issues``, texts rendered in the active language."""
    return OperationOutcome(issue=[{
        "severity": issue.severity, "code": issue.code, "diagnostics": str(issue.diagnostics),
        **({"expression": list(issue.expression)} if issue.expression else {}),
    } for issue in issues])


@dataclass
class Notes:
    """What the answer's ``note`` says besides the figures: ignored resources, values left out."""

    ignored: list[str] = field(default_factory=list)
    left_out: list[str] = field(default_factory=list)
    converted: list[str] = field(default_factory=list)
