"""Training loops for the PrCRS network: COVID-19 pre-training, fine-tuning, training from scratch.

Deterministic on CPU for a seed: every random draw (initialisation, shuffling) comes from
``torch.manual_seed(seed)`` / a seeded generator, and the caller fixes the thread count.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

import numpy as np
import torch
from torch.nn import functional as F

from predictor.training.network import PrCRSNet
from predictor.training.recipe import Recipe


@dataclass
class FitResult:
    model: PrCRSNet
    best_epoch: int           # epochs actually used (1-based)
    val_loss: float | None


def build_network(n_factors: int, recipe: Recipe, n_classes: int = 2) -> PrCRSNet:
    return PrCRSNet(n_factors, n_classes=n_classes, dim=recipe.dim, heads=recipe.heads,
                    kernel=recipe.kernel, expansion=recipe.expansion, dropout=recipe.dropout)


def _tensor(x: np.ndarray, device: torch.device) -> torch.Tensor:
    return torch.as_tensor(np.array(x, dtype=np.float32), device=device)


def predict_proba(model: torch.nn.Module, x: np.ndarray, device: torch.device | str = "cpu",
                  batch: int = 1024) -> np.ndarray:
    """Softmax index 1 of the model's logits on raw inputs."""
    device = torch.device(device)
    model.eval()
    out = []
    with torch.no_grad():
        for start in range(0, len(x), batch):
            logits = model(_tensor(x[start:start + batch], device))
            out.append(torch.softmax(logits, dim=1)[:, 1].double().cpu().numpy())
    return np.concatenate(out) if out else np.zeros(0)


def _epochs(model, x_tr, y_tr, x_val, y_val, *, lr, batch_size, max_epochs, patience, seed,
            device, fixed_epochs=None, class_weight=None) -> FitResult:
    device = torch.device(device)
    model.to(device)
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.Adam(params, lr=lr)
    gen = torch.Generator().manual_seed(seed)
    xt, yt = _tensor(x_tr, device), torch.as_tensor(np.array(y_tr), dtype=torch.long,
                                                    device=device)
    has_val = x_val is not None and len(x_val) > 0 and fixed_epochs is None
    if has_val:
        xv = _tensor(x_val, device)
        yv = torch.as_tensor(np.array(y_val), dtype=torch.long, device=device)
    weight = None if class_weight is None else torch.as_tensor(class_weight, dtype=torch.float32,
                                                               device=device)
    n_epochs = fixed_epochs if fixed_epochs is not None else max_epochs
    best_state, best_loss, best_epoch, stale = None, float("inf"), n_epochs, 0
    for epoch in range(1, n_epochs + 1):
        model.train()
        order = torch.randperm(len(xt), generator=gen).to(device)
        for start in range(0, len(order), batch_size):
            idx = order[start:start + batch_size]
            loss = F.cross_entropy(model(xt[idx]), yt[idx], weight=weight)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
        if has_val:
            model.eval()
            with torch.no_grad():
                val_loss = float(F.cross_entropy(model(xv), yv))
            if val_loss < best_loss - 1e-5:
                best_loss, best_epoch, stale = val_loss, epoch, 0
                best_state = copy.deepcopy(model.state_dict())
            else:
                stale += 1
                if stale >= patience:
                    break
    if best_state is not None:
        model.load_state_dict(best_state)
    model.eval()
    return FitResult(model, best_epoch, best_loss if has_val else None)


def pretrain_covid(x: np.ndarray, severity: np.ndarray, recipe: Recipe, seed: int,
                   device: str = "cpu") -> dict:
    """Pre-train on COVID-19 rows laid out as one combination's input (NaN = factor absent).

    The scaler uses COVID-19's own median/IQR (so residual unit or population shifts between the
    cohorts are absorbed); absent factors become z = 0. Target: 3-class maximum severity.
    Returns the state dict (the scaler is replaced by CAR-T statistics when fine-tuning).
    """
    torch.manual_seed(seed)
    model = build_network(x.shape[1], recipe, n_classes=3)
    model.scaler.set_stats(x)
    res = _epochs(model, x, severity, None, None, lr=recipe.lr, batch_size=recipe.batch_size,
                  max_epochs=recipe.pretrain_epochs, patience=recipe.pretrain_epochs, seed=seed,
                  device=device, fixed_epochs=recipe.pretrain_epochs)
    return {k: v.detach().cpu().clone() for k, v in res.model.state_dict().items()}


def train_network(x_tr: np.ndarray, y_tr: np.ndarray, x_val: np.ndarray | None,
                  y_val: np.ndarray | None, recipe: Recipe, seed: int, *,
                  pretrained: dict | None = None, fixed_epochs: int | None = None,
                  device: str = "cpu") -> FitResult:
    """Train on CAR-T rows (raw values). With ``pretrained`` (a COVID-19 state dict of the same
    width), start from it, put in a fresh 2-logit head, and freeze the conv and attention layers.
    Early stopping on (x_val, y_val) unless ``fixed_epochs`` is given."""
    torch.manual_seed(seed)
    model = build_network(x_tr.shape[1], recipe, n_classes=3 if pretrained is not None else 2)
    max_epochs = recipe.max_epochs
    if pretrained is not None:
        model.load_state_dict(pretrained)
        model.replace_head(2)
        frozen = set(model.frozen_parameter_names())
        for name, p in model.named_parameters():
            p.requires_grad_(name not in frozen)
        max_epochs = recipe.finetune_max_epochs
    model.scaler.set_stats(x_tr)
    return _epochs(model, x_tr, y_tr, x_val, y_val, lr=recipe.lr, batch_size=recipe.batch_size,
                   max_epochs=max_epochs, patience=recipe.patience, seed=seed, device=device,
                   fixed_epochs=fixed_epochs)
