"""Latency predictors (spec §4) and their self-describing files.

Modules, by concept:
- `terms`: the cost terms of a SubTransformer (per-layer sums; per-layer lookup terms);
- `cost`: the default robust fit over those terms; `mlp`: HAT's MLP recipe, for comparison;
- `kinds`: the one table of predictor kinds (`cost`, `cost-per-layer`, `hat-mlp`): fit, predict, needs;
- `metrics`: held-out split and accuracy figures;
- `file`: the predictor file (`save_predictor`, `load_predictor`) and the loaded `Predictor`;
- `run`: `hat predictor train` (fit on 80 %, score on the held-out 20 %, write the outputs);
- `report`: the files written next to a predictor, predictions for a CSV.

The public names are re-exported here.
"""

from hat.predictor.cost import HUBER_K, fit_cost, fit_huber, fit_tolerance, robust_scale
from hat.predictor.file import FILE_FORMAT, FILE_VERSION, Predictor, load_predictor, save_predictor
from hat.predictor.kinds import KINDS, METHODS, fit_predictor, model_terms, require_configs
from hat.predictor.metrics import HELDOUT_FRACTION, heldout_split, kendall_tau, latency_metrics
from hat.predictor.run import MIN_TRAIN_ROWS, build_predictor, train_predictor
from hat.predictor.terms import COST_TERMS, cost_terms, per_layer_terms

__all__ = [
    "COST_TERMS",
    "FILE_FORMAT",
    "FILE_VERSION",
    "HELDOUT_FRACTION",
    "HUBER_K",
    "KINDS",
    "METHODS",
    "MIN_TRAIN_ROWS",
    "Predictor",
    "build_predictor",
    "cost_terms",
    "fit_cost",
    "fit_huber",
    "fit_predictor",
    "fit_tolerance",
    "heldout_split",
    "kendall_tau",
    "latency_metrics",
    "load_predictor",
    "model_terms",
    "per_layer_terms",
    "require_configs",
    "robust_scale",
    "save_predictor",
    "train_predictor",
]
