"""Spatial-aware sampling: the SiamRPN++ paper's centre-bias analysis, as an experiment.

    siamjax experiment --config configs/experiments/spatial_aware_sampling.py:small \\
        --workdir runs/spatial
    siamjax experiment --config configs/experiments/spatial_aware_sampling.py:pod \\
        --workdir gs://b/spatial --config.experiment.data.prepared=gs://b/prepared \\
        --config.experiment.data.held_out=gs://b/held_out

One padded backbone trained four times alike (same pair stream, schedule and seeds), with
the search target shifted uniformly by up to 0, 16, 32 and 64 pixels during training
(pysot's ``DATASET.SEARCH.SHIFT``; ``config.input.search.shift``). Besides tracking the
held-out sequences, each run is probed (``siamjax/experiment/centre_bias.py``): search
crops of held-out frames with the target moved up to 64 px off the centre, and where the
network's response peaks. The report adds a table (peak spread, how far the peaks follow
the target, success AUC of far and near probes) and ``plots/centre_bias.png``, the peak
heatmap per variant (the paper's Fig. 1). Trained without shifts, a padded network learns
that targets sit at the centre and its peaks stay there.

Budgets:
  ``small``: TinyNet with padded layers 4-5, synthetic sequences, 2 seeds (CPU; measured
      minutes in docs/experiments.md);
  ``pod``: pysot's ResNet-50 recipe (``siamrpn_r50_l234_dwxcorr_8gpu``) on your prepared
      real data, 3 seeds.
"""

import ml_collections

from siamjax.config_defaults import experiment_settings
from siamjax.config_loader import sibling_config

BUDGETS = {
    # base config, seeds, synthetic videos, epochs, steps per epoch (None: the recipe's)
    "small": ("../quickstart.py", (0, 1), 100, 4, 90),
    "pod": ("../siamrpn_r50_l234_dwxcorr_8gpu.py", (0, 1, 2), 0, None, None),
}
SHIFTS = (0, 16, 32, 64)


def get_config(budget: str = "small"):
    if budget not in BUDGETS:
        raise ValueError(f"unknown budget {budget!r}; expected one of {sorted(BUDGETS)}")
    base, seeds, videos, epochs, steps_per_epoch = BUDGETS[budget]
    config = sibling_config(__file__, base)
    config.name = f"spatial_aware_sampling_{budget}"
    if budget == "small":
        # Padded layers 4-5: 15x15 template over 31x31 search features, 17x17 scores.
        config.model.backbone = ml_collections.ConfigDict(
            {
                "name": "tinynet",
                "channels": (16, 32, 64, 64, 64),
                "used_layers": (5,),
                "padded": True,
            }  # fmt: skip
        )
        config.input.videos_per_epoch = int(config.train.batch_size) * steps_per_epoch
        config.train.schedule.epochs = epochs
        config.train.checkpoint_every = steps_per_epoch
    config.train.log_every = 50
    overrides = {f"shift{shift}": (f"input.search.shift={float(shift)}",) for shift in SHIFTS}
    config.experiment = experiment_settings(
        tuple(overrides),
        "shift64",  # pysot's setting
        seeds,
        videos,
        overrides,
        # Held-out probes: targets moved up to `shift` px off the search centre.
        centre_bias={"shift": 64.0, "per_video": 16},
    )
    return config
