"""The correlation zoo: every fusion variant trained the same way, compared fairly.

    siamjax experiment --config configs/experiments/correlation_zoo.py --workdir runs/zoo
    siamjax experiment --config configs/experiments/correlation_zoo.py:small --workdir runs/zoo_s

Each variant replaces the correlation of the quickstart's model (TinyNet, one depthwise
RPN head; ``configs/quickstart.py``) and is trained from scratch with the same recipe,
schedule, pair stream and seeds on the synthetic dataset, then tracked on its held-out
test split. The budget argument scales the run: ``small`` (3 variants x 2 seeds, a short
schedule) and the default (every variant the head takes x 3 seeds). ``up_channel`` is not
in the zoo: it needs its own head (``up_channel_rpn``), so it would not compare the
correlation alone.
"""

from siamjax.config_defaults import experiment_settings
from siamjax.config_loader import sibling_config

BUDGETS = {
    # variants, seeds, synthetic videos, epochs, steps per epoch (batch 8)
    "small": (("depthwise", "depthwise_cosine", "pixelwise"), (0, 1), 100, 4, 90),
    "default": (
        (
            "depthwise",
            "depthwise_cosine",
            "depthwise_se",
            "pixelwise",
            "cross_attention",
            "naive",
        ),  # fmt: skip
        (0, 1, 2),
        300,
        5,
        90,
    ),
}


def get_config(budget: str = "default"):
    if budget not in BUDGETS:
        raise ValueError(f"unknown budget {budget!r}; expected one of {sorted(BUDGETS)}")
    variants, seeds, videos, epochs, steps_per_epoch = BUDGETS[budget]
    config = sibling_config(__file__, "../quickstart.py")
    config.name = f"correlation_zoo_{budget}"
    batch = int(config.train.batch_size)
    config.input.videos_per_epoch = batch * steps_per_epoch
    config.train.schedule.epochs = epochs
    config.train.log_every = 50
    config.train.checkpoint_every = steps_per_epoch
    config.experiment = experiment_settings(variants, "depthwise", seeds, videos)
    return config
