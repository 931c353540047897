"""Planning an experiment: units, shares between processes, the workdir's shared config."""

import json

import ml_collections
import pytest

from siamjax import registry
from siamjax.experiment import plan
from siamjax.experiment.plan import ExperimentError, Unit


def _experiment(ensemble=True, variants=("depthwise", "pixelwise"), seeds=(0, 1, 2)):
    return ml_collections.ConfigDict(
        {
            "variants": variants,
            "baseline": "depthwise",
            "seeds": seeds,
            "ensemble": ensemble,
            "imports": (),
        }  # fmt: skip
    )


def test_units_leave_out_finished_runs():
    finished = {("depthwise", 0), ("depthwise", 1), ("depthwise", 2), ("pixelwise", 1)}
    assert plan.plan_units(_experiment(), finished) == [Unit("pixelwise", (0, 2))]
    assert plan.plan_units(_experiment(ensemble=False), finished) == [
        Unit("pixelwise", (0,)),
        Unit("pixelwise", (2,)),
    ]
    assert Unit("pixelwise", (0, 2)).name == "pixelwise/seeds_0_2"


def test_shares_are_disjoint_and_cover_every_unit():
    units = plan.plan_units(_experiment(ensemble=False), set())
    shares = [plan.assign(units, index, 4) for index in range(4)]
    assert sorted(sum(shares, []), key=units.index) == units
    assert all(len(share) in (1, 2) for share in shares)
    with pytest.raises(ExperimentError, match="process index 4"):
        plan.assign(units, 4, 4)


def test_variants_are_checked_by_name():
    plan.check_variants(_experiment())
    with pytest.raises(ExperimentError, match="'nonexistent' is not a registered correlation"):
        plan.check_variants(_experiment(variants=("depthwise", "nonexistent")))
    with pytest.raises(ExperimentError, match="baseline 'depthwise' is not in"):
        plan.check_variants(_experiment(variants=("pixelwise",)))
    with pytest.raises(ExperimentError, match="seeds must be distinct"):
        plan.check_variants(_experiment(seeds=(1, 1)))


def test_workdir_refuses_a_changed_recipe_but_not_new_variants_or_seeds(tmp_path):
    config = ml_collections.ConfigDict({"train": {"steps": 10}, "experiment": _experiment()})
    plan.check_workdir_config(str(tmp_path), config)
    assert "variants" not in json.load(open(tmp_path / "experiment.json"))["experiment"]
    config.experiment.variants = ("depthwise", "pixelwise", "naive")
    config.experiment.seeds = (0, 1, 2, 3)
    plan.check_workdir_config(str(tmp_path), config)  # still the same experiment
    config.train.steps = 20
    with pytest.raises(ExperimentError, match=r"config\.train\.steps differs"):
        plan.check_workdir_config(str(tmp_path), config)


def test_a_variant_file_registers_its_variants(tmp_path):
    path = tmp_path / "plan_test_variant.py"
    path.write_text(
        "from siamjax import registry\n"
        "from siamjax.models.correlation import formulated_depthwise\n\n"
        "@registry.register('correlation', 'plan_test_doubled')\n"
        "def doubled(search, kernel):\n"
        "    return 2 * formulated_depthwise(search, kernel)\n"
    )
    assert plan.import_variant_module(str(path)) == ["plan_test_doubled"]
    assert "plan_test_doubled" in registry.names("correlation")
    with pytest.raises(ExperimentError, match="variant file not found"):
        plan.import_variant_module(str(tmp_path / "missing.py"))
    broken = tmp_path / "plan_test_broken.py"
    broken.write_text("raise RuntimeError('typo')\n")
    with pytest.raises(ExperimentError, match="plan_test_broken.py: RuntimeError"):
        plan.import_variant_module(str(broken))


def _override_config(overrides):
    from siamjax.config_loader import load_config
    from tests.conftest import config_path

    config = load_config(config_path("quickstart"))
    config.experiment = _experiment(variants=("depthwise", "no_shift", "loc_heavy"))
    config.experiment.overrides = ml_collections.ConfigDict(overrides)
    return config


def test_a_variant_is_any_set_of_config_overrides(tmp_path):
    config = _override_config({
        "no_shift": ("input.search.shift=0.0",),
        "loc_heavy": ("train.loc_weight=2.4", "model.rpn.correlation=pixelwise"),
    })  # fmt: skip
    plan.check_variants(config.experiment, config)
    shifted = plan.variant_config(config, "no_shift")
    assert shifted.input.search.shift == 0.0 and config.input.search.shift != 0.0
    heavy = plan.variant_config(config, "loc_heavy")
    assert heavy.train.loc_weight == 2.4 and heavy.model.rpn.correlation == "pixelwise"
    # a bare name is a correlation, as before
    assert plan.variant_config(config, "depthwise").model.rpn.correlation == "depthwise"
    # the workdir records each variant's overrides: they may not change, new ones may come
    plan.check_workdir_config(str(tmp_path), config)
    config.experiment.overrides.no_shift = ("input.search.shift=8.0",)
    with pytest.raises(ExperimentError, match="variant 'no_shift' made with overrides"):
        plan.check_workdir_config(str(tmp_path), config)
    config.experiment.overrides.no_shift = ("input.search.shift=0.0",)
    config.experiment.variants = ("depthwise", "no_shift", "loc_heavy", "small_shift")
    config.experiment.overrides.small_shift = ("input.search.shift=16.0",)
    plan.check_workdir_config(str(tmp_path), config)
    saved = json.loads((tmp_path / "experiment.json").read_text())
    assert saved["variant_overrides"]["small_shift"] == ["input.search.shift=16.0"]


def test_an_override_that_does_not_apply_is_one_line_naming_the_variant():
    config = _override_config({"no_shift": ("input.search.shfit=0.0",), "loc_heavy": ()})
    with pytest.raises(ExperimentError, match="config.experiment.overrides.no_shift: .*shfit"):
        plan.check_variants(config.experiment, config)
    config = _override_config({"unlisted": ("train.loc_weight=1.0",)})
    with pytest.raises(ExperimentError, match="'unlisted' is not in config.experiment.variants"):
        plan.check_variants(config.experiment, config)


@pytest.mark.parametrize("budget", ["small", "pod"])
def test_dw_vs_up_counts_each_heads_weights_on_either_side_of_the_correlation(budget):
    import jax

    from siamjax.config_loader import load_config
    from siamjax.experiment.costs import parameter_counts
    from siamjax.models import build_model
    from tests.conftest import config_path

    config = load_config(f"{config_path('experiments/dw_vs_up')}:{budget}")
    plan.check_variants(config.experiment, config)
    width = {"small": 64, "pod": 256}[budget]
    channels = 64 if budget == "small" else 256  # TinyNet's / AlexNet's last features
    counts = {}
    for variant in config.experiment.variants:
        run = plan.variant_config(config, variant)
        model = build_model(run.model)
        variables = jax.eval_shape(model.init, jax.random.key(0), jax.numpy.zeros((1, 127, 127, 3)),
                                   jax.numpy.zeros((1, 255, 255, 3)))  # fmt: skip
        counts[variant] = parameter_counts(variables)
    # dw: a 3x3 conv + BatchNorm per side, for cls and for loc
    assert counts["dw"]["template_branch_params"] == 2 * (channels * width * 9 + 2 * width)
    assert counts["dw"]["search_branch_params"] == counts["dw"]["template_branch_params"]
    # up: the template side lifts to 2k x C (cls) and 4k x C (loc) channels, k = 5 anchors
    template = sum(channels * width * out * 9 + width * out for out in (10, 20))
    assert counts["up"]["template_branch_params"] == template
    assert counts["up"]["search_branch_params"] == 2 * (channels * width * 9 + width)


@pytest.mark.parametrize("budget", ["small", "pod"])
def test_layerwise_aggregation_has_every_combination_of_three_levels(budget):
    import jax

    from siamjax.config_loader import load_config
    from siamjax.models import build_model
    from tests.conftest import config_path

    config = load_config(f"{config_path('experiments/layerwise_aggregation')}:{budget}")
    plan.check_variants(config.experiment, config)
    levels = {"small": (3, 4, 5), "pod": (2, 3, 4)}[budget]
    used = {}
    for variant in config.experiment.variants:
        run = plan.variant_config(config, variant)
        used[variant] = tuple(run.model.backbone.used_layers)
        if variant in ("conv3", "conv345"):  # build the smallest and the largest
            model = build_model(run.model)
            crops = jax.numpy.zeros((1, 127, 127, 3)), jax.numpy.zeros((1, 255, 255, 3))
            outputs = jax.eval_shape(
                lambda c=crops, m=model: m.init_with_output(jax.random.key(0), *c)[0]
            )
            assert outputs["scores"].shape[1:3] == (25, 25)
    assert used == {
        "conv3": levels[:1], "conv4": levels[1:2], "conv5": levels[2:],
        "conv34": levels[:2], "conv35": (levels[0], levels[2]), "conv45": levels[1:],
        "conv345": levels,
    }  # fmt: skip


@pytest.mark.parametrize("budget", ["small", "pod"])
def test_spatial_aware_sampling_varies_only_the_search_shift(budget):
    from siamjax.config_loader import load_config
    from tests.conftest import config_path

    config = load_config(f"{config_path('experiments/spatial_aware_sampling')}:{budget}")
    plan.check_variants(config.experiment, config)
    runs = {v: plan.variant_config(config, v) for v in config.experiment.variants}
    assert {v: float(r.input.search.shift) for v, r in runs.items()} == {
        "shift0": 0.0, "shift16": 16.0, "shift32": 32.0, "shift64": 64.0
    }  # fmt: skip
    for run in runs.values():
        assert run.model == runs["shift64"].model and run.train == runs["shift64"].train
    if budget == "small":
        assert runs["shift0"].model.backbone.padded
