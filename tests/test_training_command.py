"""The train_models management command on small synthetic sheets written as .xlsx (title row
first, as in the published sheets, so they read with header=1)."""

import json

import pandas as pd
import pytest
import torch
from django.core.management import CommandError, call_command

from predictor.training import synthetic
from predictor.training.export import read_extra_files


def _write_sheet(frame: pd.DataFrame, path) -> None:
    with pd.ExcelWriter(path) as writer:
        pd.DataFrame([["synthetic sheet for tests"]]).to_excel(writer, index=False, header=False)
        frame.to_excel(writer, index=False, startrow=1)


def test_command_writes_a_loadable_slot_file(tmp_path):
    cart, covid = tmp_path / "CAR-T.xlsx", tmp_path / "COVID-19.xlsx"
    _write_sheet(synthetic.cart_frame(20, seed=2), cart)
    _write_sheet(synthetic.covid_frame(30), covid)
    out = tmp_path / "models"
    call_command("train_models", "--cart", str(cart), "--covid", str(covid), "--out", str(out),
                 "--horizons", "2", "--combinations", "2", "--epochs", "1", "--workers", "1",
                 "--no-row-protocol", "--seed", "3", stdout=open(tmp_path / "log", "w"))
    path = out / "h2_c2.pt"
    module = torch.jit.load(str(path), map_location="cpu")
    assert module(torch.ones(3, 10)).shape == (3, 2)
    manifest = json.loads(read_extra_files(path)["manifest.json"])
    assert (manifest["horizon"], manifest["combination"], manifest["seed"]) == (2, "2", 3 + 2000 + 50)
    assert (out / "evaluation.json").exists()
    # the labs + context file (width n + 2) and the no-lab reference (width 2) of the horizon
    context = torch.jit.load(str(out / "h2_c2_ctx.pt"), map_location="cpu")
    assert context(torch.ones(3, 12)).shape == (3, 2)
    reference = torch.jit.load(str(out / "h2_c0_ctx.pt"), map_location="cpu")
    assert reference(torch.ones(3, 2)).shape == (3, 2)
    assert json.loads(read_extra_files(out / "h2_c0_ctx.pt")["manifest.json"])["combination"] == "0"


def test_command_names_the_missing_column(tmp_path):
    cart = tmp_path / "CAR-T.xlsx"
    _write_sheet(synthetic.cart_frame(4).drop(columns=["IL6"]), cart)
    with pytest.raises(CommandError, match="'IL6'"):
        call_command("train_models", "--cart", str(cart), "--out", str(tmp_path / "m"),
                     "--workers", "1")
