"""Which device runs a forward: single predictions on the CPU, large batches on CUDA under auto.

Measured on an H200 with the bundled files: one prediction takes ~1.5 ms on CUDA against ~0.4 ms
on the CPU (launches and copies dominate a one-row forward), while a 20,000-row batch runs about
3x faster on CUDA, with the same answers. So ``PRCRS_DEVICE``:

- ``cpu``: everything on the CPU;
- ``cuda``: everything on CUDA (fails at start-up where there is none, as asked);
- ``auto`` (the default): the models serve on the CPU; where CUDA is available each model also
  has a copy there, and a batch forward of at least ``PRCRS_CUDA_BATCH_ROWS`` rows runs on it.
  A single prediction never goes to CUDA under auto.

Plain functions, so the decision is tested without a GPU.
"""

from __future__ import annotations

from dataclasses import dataclass

DEVICE_SETTINGS = ("auto", "cpu", "cuda")


@dataclass(frozen=True)
class DevicePlan:
    """Where a process keeps its models: ``serving`` for every single prediction (and small
    batches), ``batch`` (or None) for batch forwards of at least ``batch_rows`` rows."""

    serving: str
    batch: str | None = None
    batch_rows: int = 0


def device_plan(setting: str, *, cuda_available: bool, batch_rows: int) -> DevicePlan:
    """The plan for ``PRCRS_DEVICE`` = ``setting`` on a machine with or without CUDA."""
    setting = setting.strip().lower()
    if setting == "auto":
        if cuda_available:
            return DevicePlan("cpu", "cuda", max(1, batch_rows))
        return DevicePlan("cpu")
    if setting not in DEVICE_SETTINGS:
        raise ValueError(f"PRCRS_DEVICE must be one of {', '.join(DEVICE_SETTINGS)}, "
                         f"not {setting!r}")
    return DevicePlan(setting)


def takes_batch_device(plan: DevicePlan, rows: int) -> bool:
    """Whether a forward of ``rows`` rows runs on the plan's batch device."""
    return plan.batch is not None and rows >= plan.batch_rows


def forward_device(plan: DevicePlan, rows: int) -> str:
    """The device a forward of ``rows`` rows runs on under ``plan``."""
    return plan.batch if takes_batch_device(plan, rows) else plan.serving
