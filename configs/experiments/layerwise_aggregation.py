"""Layer-wise aggregation: the SiamRPN++ paper's conv3 / conv4 / conv5 table, as an experiment.

    siamjax experiment --config configs/experiments/layerwise_aggregation.py:small \\
        --workdir runs/layerwise
    siamjax experiment --config configs/experiments/layerwise_aggregation.py:pod \\
        --workdir gs://b/layerwise --config.experiment.data.prepared=gs://b/prepared \\
        --config.experiment.data.held_out=gs://b/held_out

Seven variants of one model, trained alike (same pair stream, schedule and seeds): the RPN
on one backbone level (``conv3``, ``conv4``, ``conv5``), on each pair of levels, and on all
three (``conv345``), each level with its own adjust layer and depthwise RPN and the levels'
outputs fused with learned weights (pysot's ``MultiRPN(weighted=True)``), as in the paper.
The paper's conv3/4/5 are ResNet-50's layer2/3/4, pysot's ``used_layers`` 2, 3, 4.

Budgets:
  ``small``: TinyNet with padded layers 4-5 (``padded``: stages 3-5 share one 31x31
      search size, as ResNet-50's layers 2-4 do), its stages 3/4/5 standing for conv3/4/5,
      synthetic sequences, 2 seeds (CPU; measured minutes in docs/experiments.md);
  ``pod``: pysot's ResNet-50 recipe (``siamrpn_r50_l234_dwxcorr_8gpu``) on your prepared
      real data, 3 seeds.
"""

import itertools

import ml_collections

from siamjax.config_defaults import experiment_settings
from siamjax.config_loader import sibling_config

BUDGETS = {
    # base config, the backbone's level numbers for conv3/4/5, neck width, seeds,
    # synthetic videos, epochs, steps per epoch (None: the base recipe's)
    "small": ("../quickstart.py", (3, 4, 5), 64, (0, 1), 100, 4, 90),
    "pod": ("../siamrpn_r50_l234_dwxcorr_8gpu.py", (2, 3, 4), 256, (0, 1, 2), 0, None, None),
}
NAMES = ("conv3", "conv4", "conv5")


def variants(levels) -> dict[str, tuple[int, ...]]:
    """{'conv3': (l3,), ..., 'conv34': (l3, l4), ..., 'conv345': (l3, l4, l5)}."""
    chosen = {}
    for count in (1, 2, 3):
        for combination in itertools.combinations(range(3), count):
            name = "conv" + "".join(NAMES[i][-1] for i in combination)
            chosen[name] = tuple(levels[i] for i in combination)
    return chosen


def get_config(budget: str = "small"):
    if budget not in BUDGETS:
        raise ValueError(f"unknown budget {budget!r}; expected one of {sorted(BUDGETS)}")
    base, levels, width, seeds, videos, epochs, steps_per_epoch = BUDGETS[budget]
    config = sibling_config(__file__, base)
    config.name = f"layerwise_aggregation_{budget}"
    if budget == "small":
        config.model.backbone = ml_collections.ConfigDict(
            {
                "name": "tinynet",
                "channels": (16, 32, 64, 64, 64),
                "used_layers": levels,
                "padded": True,
            }  # fmt: skip
        )
        # 7x7 template features (the neck's centre crop) over 31x31: 25x25 scores
        config.track.base_size = 8
        config.input.videos_per_epoch = int(config.train.batch_size) * steps_per_epoch
        config.train.schedule.epochs = epochs
        config.train.checkpoint_every = steps_per_epoch
    config.model.neck = ml_collections.ConfigDict(
        {"name": "adjust_all", "out_channels": (width,) * 3, "center_size": 7}
    )
    config.model.rpn = ml_collections.ConfigDict(
        {
            "name": "multi_rpn",
            "in_channels": (width,) * 3,
            "weighted": True,
            "correlation": "depthwise",
        }  # fmt: skip
    )
    config.train.log_every = 50
    overrides = {
        name: (
            f"model.backbone.used_layers={used}",
            f"model.neck.out_channels={(width,) * len(used)}",
            f"model.rpn.in_channels={(width,) * len(used)}",
        )
        for name, used in variants(levels).items()
    }
    config.experiment = experiment_settings(tuple(overrides), "conv345", seeds, videos, overrides)
    return config
