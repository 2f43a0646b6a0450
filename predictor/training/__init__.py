"""Training side of PrCRS web: data loading, the PrCRS network, cross-validated evaluation,
reference models and the export of the 39 default TorchScript model files.

Modules:
- ``data``: reading the CAR-T and COVID-19 sheets into catalogue keys and units, k-day-ahead labels.
- ``folds``: patient-level (and, for comparison only, row-level) cross-validation splits.
- ``network``: the PrCRS network (factor-sequence U-Net around Squeezeformer-style blocks).
- ``recipe``: the training recipe (hyper-parameters) in one place.
- ``fit``: training loops (pre-training on COVID-19, fine-tuning, training from scratch).
- ``baselines``: logistic regression, LightGBM, and the no-lab reference models.
- ``context`` / ``evaluate_context``: models on labs + today's CRS grade + day, the no-lab
  reference file (combination "0"), and their cross-validation on the same folds.
- ``sensitivity``: how far a file's probability moves when a plausible chloride/sodium replaces
  the sheet's artefact.
- ``report`` / ``report_context``: the Markdown tables of bench/accuracy.py and the model card.
- ``calibration``: the spec section 5 baseline conversion (raw -> actual probability), vectorised.
- ``calibration_choice``: each family's calibration method chosen by nested patient-level CV
  (the rule is in its docstring); its ``manifest_entry`` is the manifest's ``calibration`` key.
- ``evaluate``: metrics and the patient-level / row-level cross-validation drivers.
- ``export``: TorchScript wrapping, manifest, baseline.csv, save and round-trip check.
- ``pipeline``: evaluate and ship all slots (used by the management command and the bench).
"""
