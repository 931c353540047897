"""Config files and --config.a.b=v overrides."""

import pytest

from siamjax.config_loader import ConfigError, apply_overrides, load_config, split_config_args
from tests.conftest import RELEASED_CONFIGS, config_path

# docs/parity.md §8.4: (penalty_k, window_influence, lr, instance_size, base_size)
TRACK_PARAMETERS = {
    "siamrpn_r50_l234_dwxcorr": (0.05, 0.42, 0.38, 255, 8),
    "siamrpn_r50_l234_dwxcorr_otb": (0.24, 0.5, 0.25, 255, 8),
    "siamrpn_r50_l234_dwxcorr_lt": (0.05, 0.28, 0.22, 255, 8),
    "siamrpn_alex_dwxcorr": (0.16, 0.40, 0.30, 287, 0),
    "siamrpn_alex_dwxcorr_otb": (0.16, 0.40, 0.30, 287, 0),
    "siamrpn_mobilev2_l234_dwxcorr": (0.04, 0.4, 0.5, 255, 8),
}


@pytest.mark.parametrize("name", RELEASED_CONFIGS)
def test_released_configs_carry_spec_tracker_parameters(name):
    track = load_config(config_path(name)).track
    got = (track.penalty_k, track.window_influence, track.lr, track.instance_size,
           track.base_size)  # fmt: skip
    assert got == TRACK_PARAMETERS[name]
    assert track.exemplar_size == 127 and track.context_amount == 0.5


def test_lt_config_has_long_term_settings():
    track = load_config(config_path("siamrpn_r50_l234_dwxcorr_lt")).track
    assert (track.type, track.lost_instance_size, track.confidence_low, track.confidence_high) == (
        "siamrpn_lt", 831, 0.8, 0.998)  # fmt: skip


@pytest.mark.parametrize(
    "quickstart_config, released_config",
    [("quickstart_alex", "siamrpn_alex_dwxcorr"),
     ("quickstart_mbv2", "siamrpn_mobilev2_l234_dwxcorr")],
)  # fmt: skip
def test_quickstart_released_is_the_released_network_with_the_quickstart_recipe(
    quickstart_config, released_config
):
    import jax

    from siamjax.models import build_model, check_variables, init_variables

    config = load_config(f"configs/{quickstart_config}.py:/data/shards")
    quickstart, released = load_config("configs/quickstart.py"), load_config(
        config_path(released_config))  # fmt: skip
    assert config.model == released.model and config.train.schedule == quickstart.train.schedule
    assert config.input.datasets[0].path == "/data/shards"
    assert config.track.penalty_k == quickstart.track.penalty_k
    # The released network's crop and score sizes, the quickstart's tracker settings.
    assert (config.track.instance_size, config.track.base_size) == (
        released.track.instance_size, released.track.base_size)  # fmt: skip
    released_shapes = jax.eval_shape(lambda: init_variables(build_model(released.model),
                                                           jax.random.key(0)))  # fmt: skip
    check_variables(build_model(config.model), released_shapes)


def test_overrides_keep_types():
    config = load_config(config_path("siamrpn_r50_l234_dwxcorr"))
    apply_overrides(config, ["track.penalty_k=0.1", "track.instance_size=271",
                             "model.rpn.weighted=false", "model.rpn.correlation=naive",
                             "model.neck.out_channels=(64, 64, 64)", "track.lr=1"])  # fmt: skip
    assert config.track.penalty_k == 0.1
    assert config.track.instance_size == 271
    assert config.model.rpn.weighted is False
    assert config.model.rpn.correlation == "naive"
    assert config.model.neck.out_channels == (64, 64, 64)
    assert config.track.lr == 1.0 and isinstance(config.track.lr, float)


def test_unknown_key_and_bad_value_are_reported():
    config = load_config(config_path("siamrpn_r50_l234_dwxcorr"))
    with pytest.raises(ConfigError, match="unknown config key 'track.penalty'.*penalty_k"):
        apply_overrides(config, ["track.penalty=0.1"])
    with pytest.raises(ConfigError, match="cannot parse 'abc'"):
        apply_overrides(config, ["track.instance_size=abc"])
    with pytest.raises(ConfigError, match="expected an int"):
        apply_overrides(config, ["track.instance_size=2.5"])
    with pytest.raises(ConfigError, match="not found"):
        load_config("configs/does_not_exist.py")


def test_split_config_args():
    argv, overrides = split_config_args(
        ["convert", "--config", "c.py", "--config.a.b=1", "--config.c", "2", "--out", "x"]
    )
    assert argv == ["convert", "--config", "c.py", "--out", "x"]
    assert overrides == ["a.b=1", "c=2"]
