"""Worker that loads an uploaded TorchScript file and dry-runs it, in its own limited process.

    python -m predictor.check_model_file PATH COMBINATION [--memory-mb N] [--cpu-seconds N]

Loading a TorchScript archive runs its code, so it happens here and never in a web worker: this
process caps its CPU time, then imports PyTorch (trusted code, whose own size differs between CPU
and CUDA builds), then caps its address space at what it uses at that point plus
``--memory-mb`` before it touches the upload; the parent (``predictor.upload_checks``) kills it
after a wall-clock limit. It imports neither Django nor
the database. It prints one JSON object on its last stdout line: ``{"ok": true, ...}`` or
``{"ok": false, "code": "...", ...}``; the parent turns codes into translated messages.
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


def dry_run_inputs(combination: str) -> tuple[list[float], list[list[float]]]:
    """Fixed, realistic inputs: one row at the typical-range midpoints, then eight rows spread
    from the low to the high end of each factor's typical range."""
    from predictor.catalogue import FACTORS_BY_KEY, combination_factor_keys

    specs = [FACTORS_BY_KEY[k] for k in combination_factor_keys(combination)]
    single = [(s.typical[0] + s.typical[1]) / 2 for s in specs]
    batch = [[s.typical[0] + (s.typical[1] - s.typical[0]) * i / 7 for s in specs]
             for i in range(8)]
    return single, batch


def check(path: str, combination: str, memory_mb: int = 0) -> dict:
    import torch

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
    single, batch = dry_run_inputs(combination)
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
    return {"ok": True, "width": len(single), "raw_probabilities": outputs,
            "torch": torch.__version__}


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
    args = parser.parse_args(argv)
    apply_limits(args.cpu_seconds)
    try:
        result = check(args.path, args.combination, args.memory_mb)
    except MemoryError:
        result = {"ok": False, "code": "memory"}
    print(json.dumps(result), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
