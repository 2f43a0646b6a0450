"""Worker that loads an uploaded TorchScript file and dry-runs it, in its own limited process.

    python -m predictor.model_versions.check_model_file PATH COMBINATION
        [--memory-mb N] [--cpu-seconds N] [--inputs SPECS.json]

Loading a TorchScript archive runs its code, so it happens here and never in a web worker: this
process caps its CPU time, then imports PyTorch (trusted code, whose own size differs between
CPU and CUDA builds), then caps its address space at what it uses at that point plus
``--memory-mb`` before it touches the upload; the parent
(``predictor.model_versions.upload_checks``) kills it after a wall-clock limit. It imports
neither Django nor the database. It prints one JSON object on its last stdout line:
``{"ok": true, ...}`` or ``{"ok": false, "code": "...", ...}``; the parent turns codes into
translated messages.

``--inputs`` names a JSON list of the file's inputs in order (lab factors, then context values),
each with its accepted (``low``/``high``) and typical range; without it, the combination's
factors with the catalogue's limits. Besides typical values the dry run feeds, one row at a
time as serving does, every input at its accepted limits and seeded random points of the whole
accepted box: the site accepts all of those, so a model must answer all of them.
"""

from __future__ import annotations

import argparse
import json
import math
import resource
import sys


def _limit(kind: int, value: int) -> None:
    soft, hard = resource.getrlimit(kind)
    if hard != resource.RLIM_INFINITY:
        value = min(value, hard)
    resource.setrlimit(kind, (value, hard if hard != resource.RLIM_INFINITY else value))


def address_space_bytes() -> int:
    """This process's current virtual memory size (Linux), 0 where unknown."""
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmSize:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def limit_memory(memory_mb: int) -> None:
    """Allow ``memory_mb`` of address space on top of what the process already uses."""
    if memory_mb > 0:
        _limit(resource.RLIMIT_AS, address_space_bytes() + memory_mb * 1024 * 1024)


def apply_limits(cpu_seconds: int) -> None:
    if cpu_seconds > 0:  # a backstop; the parent's wall-clock limit normally acts first
        _limit(resource.RLIMIT_CPU, cpu_seconds)
    _limit(resource.RLIMIT_CORE, 0)
    _limit(resource.RLIMIT_FSIZE, 0)  # nothing in a model has any reason to write files


RANDOM_SEED = 0
RANDOM_ROWS = 64


def catalogue_specs(combination: str) -> list[dict]:
    from predictor.catalogue import FACTORS_BY_KEY, combination_factor_keys

    return [{"key": k, "low": FACTORS_BY_KEY[k].hard[0], "high": FACTORS_BY_KEY[k].hard[1],
             "typical_low": FACTORS_BY_KEY[k].typical[0],
             "typical_high": FACTORS_BY_KEY[k].typical[1], "integer": False}
            for k in combination_factor_keys(combination)]


def _at(spec: dict, fraction: float) -> float:
    """The point ``fraction`` of the way through an input's typical range (whole for the
    context values, which the site only ever feeds as integers)."""
    value = spec["typical_low"] + (spec["typical_high"] - spec["typical_low"]) * fraction
    return float(round(value)) if spec.get("integer") else float(value)


def dry_run_inputs(specs: list[dict]) -> tuple[list[float], list[list[float]]]:
    """Fixed, realistic inputs: one row at the typical-range midpoints, then eight rows spread
    from the low to the high end of each input's typical range."""
    single = [_at(s, 0.5) for s in specs]
    batch = [[_at(s, i / 7) for s in specs] for i in range(8)]
    return single, batch


def _draw(spec: dict, rng) -> float:
    """A value anywhere in the accepted range; half the draws log-uniform, so ranges that span
    decades (IL-6 0-200000) are explored at their low end too."""
    low, high = float(spec["low"]), float(spec["high"])
    if rng.random() < 0.5 and low >= 0:
        value = math.expm1(rng.uniform(math.log1p(low), math.log1p(high)))
    else:
        value = rng.uniform(low, high)
    value = min(max(value, low), high)
    return float(round(value)) if spec.get("integer") else value


def extreme_inputs(specs: list[dict], *, seed: int = RANDOM_SEED,
                   rows: int = RANDOM_ROWS) -> list[tuple[dict, list[float]]]:
    """(where, row) pairs at the edges of what the site accepts: every input at its lowest
    and at its highest accepted value together, each input alone at either limit (the others
    typical), and ``rows`` seeded random points of the whole accepted box."""
    import random

    typical = [_at(s, 0.5) for s in specs]
    out = [({"kind": "all_low"}, [float(s["low"]) for s in specs]),
           ({"kind": "all_high"}, [float(s["high"]) for s in specs])]
    for i, spec in enumerate(specs):
        for kind in ("low", "high"):
            row = list(typical)
            row[i] = float(spec[kind])
            out.append(({"kind": kind, "key": spec["key"], "value": row[i]}, row))
    rng = random.Random(seed)
    for r in range(rows):
        out.append(({"kind": "random", "seed": seed, "row": r}, [_draw(s, rng) for s in specs]))
    return out


def check(path: str, combination: str, memory_mb: int = 0,
          specs: list[dict] | None = None) -> dict:
    import torch

    specs = specs if specs is not None else catalogue_specs(combination)
    torch.set_num_threads(1)
    torch.zeros(8, 2).softmax(dim=1)  # allocator and thread pool set up before the cap
    limit_memory(memory_mb)
    try:
        module = torch.jit.load(path, map_location="cpu")
    except Exception as exc:  # noqa: BLE001 - any failure to load is the answer
        if _out_of_memory(exc):
            return {"ok": False, "code": "memory"}
        return {"ok": False, "code": "load_failed", "detail": _short(exc)}
    module.eval()
    single, batch = dry_run_inputs(specs)
    outputs = {}
    for name, rows in (("b1", [single]), ("b8", batch)):
        x = torch.tensor(rows, dtype=torch.float32)
        try:
            with torch.inference_mode():
                out = module(x)
        except Exception as exc:  # noqa: BLE001 - wrong width shows up here
            if _out_of_memory(exc):
                return {"ok": False, "code": "memory"}
            return {"ok": False, "code": "forward_failed", "batch": len(rows),
                    "width": len(single), "detail": _short(exc)}
        if not isinstance(out, torch.Tensor):
            return {"ok": False, "code": "not_tensor", "batch": len(rows),
                    "type": type(out).__name__}
        shape = list(out.shape)
        if shape != [len(rows), 2]:
            return {"ok": False, "code": "bad_shape", "batch": len(rows), "shape": shape}
        if not out.is_floating_point():
            return {"ok": False, "code": "not_float", "dtype": str(out.dtype)}
        values = out.double().tolist()
        if not all(math.isfinite(v) for row in values for v in row):
            return {"ok": False, "code": "not_finite", "batch": len(rows)}
        probabilities = torch.softmax(out.double(), dim=1)[:, 1].tolist()
        outputs[name] = [round(p, 6) for p in probabilities]
    extremes = extreme_inputs(specs)
    failure = _check_extremes(module, extremes)
    if failure is not None:
        return failure
    return {"ok": True, "width": len(single), "raw_probabilities": outputs,
            "extreme_rows": len(extremes), "torch": torch.__version__}


def _check_extremes(module, extremes: list[tuple[dict, list[float]]]) -> dict | None:
    """Each row alone, batch 1 as the site serves: the first failure, or None."""
    import torch

    for where, row in extremes:
        x = torch.tensor([row], dtype=torch.float32)
        try:
            with torch.inference_mode():
                out = module(x)
        except Exception as exc:  # noqa: BLE001 - any failure here would be a 503 when serving
            if _out_of_memory(exc):
                return {"ok": False, "code": "memory"}
            return {"ok": False, "code": "extreme_failed", "where": where, "detail": _short(exc)}
        if not isinstance(out, torch.Tensor) or list(out.shape) != [1, 2] \
                or not out.is_floating_point():
            return {"ok": False, "code": "extreme_bad_shape", "where": where,
                    "shape": list(out.shape) if isinstance(out, torch.Tensor)
                    else type(out).__name__}
        if not all(math.isfinite(v) for v in out.double().flatten().tolist()):
            return {"ok": False, "code": "extreme_not_finite", "where": where}
    return None


def _out_of_memory(exc: BaseException) -> bool:
    return isinstance(exc, MemoryError) or "can't allocate memory" in str(exc) \
        or "bad_alloc" in str(exc)


def _short(exc: BaseException) -> str:
    # A TorchScript error carries both tracebacks; its last line names the actual problem.
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    last = lines[-1] if lines else ""
    if not last.startswith(type(exc).__name__):
        last = f"{type(exc).__name__}: {last}".rstrip(": ")
    return last[:300]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("path")
    parser.add_argument("combination")
    parser.add_argument("--memory-mb", type=int, default=2048)
    parser.add_argument("--cpu-seconds", type=int, default=60)
    parser.add_argument("--inputs", default=None)
    args = parser.parse_args(argv)
    specs = None
    if args.inputs:  # the parent wrote it; read before any limit applies
        with open(args.inputs, encoding="utf-8") as handle:
            specs = json.load(handle)
    apply_limits(args.cpu_seconds)
    try:
        result = check(args.path, args.combination, args.memory_mb, specs)
    except MemoryError:
        result = {"ok": False, "code": "memory"}
    print(json.dumps(result), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
