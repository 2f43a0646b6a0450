"""Frozen TorchScript modules: cheaper to call, never a different answer."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
import torch

from predictor.catalogue import CONTEXT_KEYS, combination_factor_keys
from predictor.scoring.inference_module import frozen_for_inference
from tests.model_files import tiny_model_bytes

BUNDLED = sorted((Path(__file__).resolve().parent.parent / "models_store").glob("*.pt"))


def _load(data_or_path) -> torch.jit.ScriptModule:
    source = io.BytesIO(data_or_path) if isinstance(data_or_path, bytes) else str(data_or_path)
    return torch.jit.load(source, map_location="cpu").eval()


def _width(path: Path) -> int:
    name = path.stem  # h1_c1234 or h1_c1234_ctx (h1_c0_ctx: the no-lab reference)
    code = name.split("_")[1][1:]
    labs = 0 if code == "0" else len(combination_factor_keys(code))
    return labs + (len(CONTEXT_KEYS) if name.endswith("_ctx") else 0)


def _same_outputs(a, b, x) -> bool:
    with torch.inference_mode(), torch.jit.optimized_execution(False):
        return torch.equal(a(x), b(x))


def test_a_tiny_file_is_frozen_and_answers_bit_for_bit_the_same():
    loaded = _load(tiny_model_bytes(1, "4", bias=0.3))
    frozen = frozen_for_inference(loaded, [torch.ones(1, 7)])
    assert frozen is not loaded
    assert "weight" not in dict(frozen.named_parameters())  # folded into the graph
    generator = torch.Generator().manual_seed(7)
    for rows in (1, 3, 500):
        x = torch.rand(rows, 7, generator=generator) * 100
        assert _same_outputs(frozen, loaded, x)


@pytest.mark.skipif(not BUNDLED, reason="no bundled model files in models_store/")
@pytest.mark.parametrize("path", BUNDLED, ids=lambda p: p.stem)
def test_each_bundled_file_frozen_answers_bit_for_bit_the_same(path):
    width = _width(path)
    loaded = _load(path)
    probe = torch.ones(2, width)
    frozen = frozen_for_inference(loaded, [probe[:1], probe])
    assert frozen is not loaded
    generator = torch.Generator().manual_seed(11)
    for rows in (1, 2, 257):
        x = torch.rand(rows, width, generator=generator) * 50
        x[0, 0] = float("nan")  # a missing value is imputed inside some files
        assert _same_outputs(frozen, _load(path), x)


def test_a_module_that_cannot_be_frozen_is_served_as_loaded():
    loaded = _load(tiny_model_bytes(1, "4"))
    loaded.train()  # freezing needs eval mode: it raises, and the module stays as it is
    assert frozen_for_inference(loaded, [torch.ones(1, 7)]) is loaded
