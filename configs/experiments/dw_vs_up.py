"""DW-XCorr against UP-XCorr: the SiamRPN++ paper's head comparison, as an experiment.

    siamjax experiment --config configs/experiments/dw_vs_up.py:small --workdir runs/dw_vs_up
    siamjax experiment --config configs/experiments/dw_vs_up.py:pod --workdir gs://b/dw_vs_up \\
        --config.experiment.data.prepared=gs://b/prepared \\
        --config.experiment.data.held_out=gs://b/held_out

Two variants of one model, trained alike (same pair stream, schedule and seeds) and
compared on held-out sequences: ``dw`` (``depthwise_rpn``: depthwise correlation between
two 3x3 conv-BN branches, then a 1x1 head) and ``up`` (``up_channel_rpn``: SiamRPN's
up-channel head, whose template branch lifts the features to 2k x C and 4k x C channels
for a full cross-correlation). The report's ``template / search branch`` column gives each
head's parameters on either side of the correlation, the paper's imbalance argument: the
up-channel head puts most of its weights on the template side.

Budgets:
  ``small``: the quickstart's TinyNet model on synthetic sequences, both heads 64 wide,
      2 seeds (CPU; measured minutes in docs/experiments.md);
  ``pod``: pysot's AlexNet recipe (``siamrpn_alex_dwxcorr_16gpu``, both heads 256 wide,
      as pysot's ``siamrpn_alex_dwxcorr`` and SiamRPN's up-channel model) on your
      prepared real data, 3 seeds.
"""

import ml_collections

from siamjax.config_defaults import experiment_settings
from siamjax.config_loader import sibling_config

BUDGETS = {
    # base config, head width, seeds, synthetic videos, epochs, steps per epoch or None
    "small": ("../quickstart.py", 64, (0, 1), 100, 4, 90),
    "pod": ("../siamrpn_alex_dwxcorr_16gpu.py", 256, (0, 1, 2), 0, None, None),
}


def get_config(budget: str = "small"):
    if budget not in BUDGETS:
        raise ValueError(f"unknown budget {budget!r}; expected one of {sorted(BUDGETS)}")
    base, width, seeds, videos, epochs, steps_per_epoch = BUDGETS[budget]
    config = sibling_config(__file__, base)
    config.name = f"dw_vs_up_{budget}"
    config.model.rpn = ml_collections.ConfigDict(
        {"name": "depthwise_rpn", "out_channels": width, "correlation": "depthwise"}
    )
    if steps_per_epoch is not None:
        config.input.videos_per_epoch = int(config.train.batch_size) * steps_per_epoch
        config.train.schedule.epochs = epochs
        config.train.checkpoint_every = steps_per_epoch
    config.train.log_every = 50
    up_head = repr({"name": "up_channel_rpn", "feature_in": width})
    config.experiment = experiment_settings(
        ("dw", "up"),
        "dw",
        seeds,
        videos,
        overrides={"dw": ("model.rpn.correlation=depthwise",), "up": (f"model.rpn={up_head}",)},
    )
    return config
