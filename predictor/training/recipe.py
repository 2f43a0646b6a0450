"""The training recipe in one place (hyper-parameters and why they are what they are).

Paper recipe: CrossEntropy, Adam lr 1e-3, batch 12. Deviations, documented:
- batch 64 instead of 12, a small network (16 channels, 2 heads) and at most 10 epochs: a
  compute decision (the whole 18-slot evaluation + training has to
  run in well under 30 minutes on 2 shared CPU cores); it is not tuned on any reported patient.
- the number of epochs is chosen by early stopping on inner-validation patients (lowest
  cross-entropy), never on the patients a figure is reported for; the final models use the
  median of the epochs chosen in the five outer folds.
- COVID-19 pre-training uses the 3-class ``Maximum severity`` target (0/1/2), which keeps the
  ordering information the binary cut would lose; the 3-logit head is replaced by a fresh 2-logit
  head for fine-tuning.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field


@dataclass(frozen=True)
class Recipe:
    # network
    dim: int = 16
    heads: int = 2
    kernel: int = 3
    expansion: int = 2
    dropout: float = 0.0
    # optimisation (paper: Adam, lr 1e-3, CrossEntropy)
    lr: float = 1e-3
    batch_size: int = 64
    max_epochs: int = 10
    patience: int = 3
    finetune_max_epochs: int = 10
    # COVID-19 pre-training
    pretrain_epochs: int = 6
    pretrain_target: str = "3-class"
    # cross-validation
    outer_folds: int = 5
    # the row-level (paper) protocol re-trains the network only for these horizons (compute);
    # logistic regression and LightGBM run it for every slot
    row_protocol_network_horizons: tuple[int, ...] = (1,)
    inner_val_fraction: float = 0.2
    # C, the stacked model's penalty and LightGBM's rounds: by inner K-fold CV over the
    # outer-training patients (predictor.training.inner_cv)
    inner_folds: int = 5
    # logistic regression: C chosen by inner CV from this grid. It was (0.01, 0.1, 1.0), whose
    # lowest value was chosen in 55 of the 90 outer folds: the best penalty may have lain beyond
    # the grid, and an over-penalised logistic regression is under-confident (its files' slopes
    # above 1.2). Now log-spaced like the context models' grid, one step lower; the change was
    # kept because the nested log loss of the shipped labs files did not get worse (0.1914 ->
    # 0.1910) and every labs-only goal still held, the rule fixed before the run.
    lr_grid: tuple[float, ...] = (0.003, 0.01, 0.03, 0.1, 0.3, 1.0)
    # LightGBM (rounds chosen by early stopping on inner validation)
    lgbm_params: dict = field(default_factory=lambda: {
        "objective": "binary", "learning_rate": 0.05, "num_leaves": 7, "min_child_samples": 10,
        "subsample": 0.8, "subsample_freq": 1, "colsample_bytree": 0.8, "reg_lambda": 1.0,
        "verbose": -1, "deterministic": True, "force_row_wise": True, "n_jobs": 1})
    lgbm_max_rounds: int = 300
    # context models (labs + today's CRS grade + day): logistic C and the stacked model's lab
    # penalty (inf = no lab effect, i.e. the no-lab reference) chosen on inner validation
    ctx_lr_grid: tuple[float, ...] = (0.01, 0.03, 0.1, 0.3, 1.0, 3.0)
    stack_lambdas: tuple[float, ...] = (3.0, 10.0, 30.0, 100.0, 300.0, 1000.0, float("inf"))
    # the context network is evaluated (no COVID-19 pre-training: that cohort has no CRS grade)
    ctx_network: bool = True
    # the labs-only PrCRS network families (never shipped: over the serving budget); False
    # skips them for a run whose figures only decide what ships
    labs_network: bool = True
    # ensembles use fixed equal weights (evaluate.ENSEMBLES), nothing tuned

    def to_dict(self) -> dict:
        """JSON-able: an infinite penalty is written as the string "inf"."""
        out = asdict(self)
        out["stack_lambdas"] = ["inf" if v == float("inf") else v for v in self.stack_lambdas]
        return out


def small_recipe(**changes) -> Recipe:
    """A tiny recipe for tests (seconds on CPU)."""
    base = dict(dim=8, heads=2, max_epochs=3, patience=2, finetune_max_epochs=3, pretrain_epochs=2,
                lgbm_max_rounds=20, batch_size=32)
    base.update(changes)
    return Recipe(**base)
