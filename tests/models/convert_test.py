"""`siamjax convert`: docs/parity.md §9.2 key names/shapes round trip, and its error cases."""

import collections
import zipfile

import numpy as np
import pytest

from siamjax.checkpoints import load_variables
from siamjax.cli import main
from siamjax.models.pth import save_pth
from tests.conftest import config_path
from tests.models.pth_test import _malicious_pickle


def _bn(prefix, channels, tracked=True):
    entries = [(f"{prefix}.{n}", (channels,)) for n in ("weight", "bias")]
    entries += [(f"{prefix}.{n}", (channels,)) for n in ("running_mean", "running_var")]
    if tracked:
        entries.append((f"{prefix}.num_batches_tracked", ()))
    return entries


def spec_r50_keys(neck=(256, 256, 256), weighted=True, tracked=True):
    """(key, shape) of pysot's siamrpn_r50_l234_dwxcorr state_dict (docs/parity.md §9.2)."""
    keys = [("backbone.conv1.weight", (64, 3, 7, 7))] + _bn("backbone.bn1", 64, tracked)
    stages = {1: (64, 3, 64), 2: (128, 4, 256), 3: (256, 6, 512), 4: (512, 3, 1024)}
    for layer, (planes, blocks, in_channels) in stages.items():
        for block in range(blocks):
            prefix = f"backbone.layer{layer}.{block}"
            inputs = in_channels if block == 0 else 4 * planes
            keys += [(f"{prefix}.conv1.weight", (planes, inputs, 1, 1))]
            keys += _bn(f"{prefix}.bn1", planes, tracked)
            keys += [(f"{prefix}.conv2.weight", (planes, planes, 3, 3))]
            keys += _bn(f"{prefix}.bn2", planes, tracked)
            keys += [(f"{prefix}.conv3.weight", (4 * planes, planes, 1, 1))]
            keys += _bn(f"{prefix}.bn3", 4 * planes, tracked)
            if block == 0:
                side = 1 if layer == 1 else 3
                keys += [(f"{prefix}.downsample.0.weight", (4 * planes, in_channels, side, side))]
                keys += _bn(f"{prefix}.downsample.1", 4 * planes, tracked)
    for level, (channels, out) in enumerate(zip((512, 1024, 2048), neck), start=2):
        keys += [(f"neck.downsample{level}.downsample.0.weight", (out, channels, 1, 1))]
        keys += _bn(f"neck.downsample{level}.downsample.1", out, tracked)
    for level, hidden in enumerate(neck, start=2):
        for branch, out in (("cls", 10), ("loc", 20)):
            prefix = f"rpn_head.rpn{level}.{branch}"
            for part in ("conv_kernel", "conv_search"):
                keys += [(f"{prefix}.{part}.0.weight", (hidden, hidden, 3, 3))]
                keys += _bn(f"{prefix}.{part}.1", hidden, tracked)
            keys += [(f"{prefix}.head.0.weight", (hidden, hidden, 1, 1))]
            keys += _bn(f"{prefix}.head.1", hidden, tracked)
            keys += [(f"{prefix}.head.3.weight", (out, hidden, 1, 1))]
            keys += [(f"{prefix}.head.3.bias", (out,))]
    if weighted:
        keys += [("rpn_head.cls_weight", (3,)), ("rpn_head.loc_weight", (3,))]
    return keys


def _random_state(keys, seed=0):
    rng = np.random.default_rng(seed)
    state = collections.OrderedDict()
    for key, shape in keys:
        if key.endswith("num_batches_tracked"):
            state[key] = np.array(123, dtype=np.int64)
        else:
            state[key] = rng.normal(size=shape).astype(np.float32)
    return state


def _leaf(variables, key):
    """Looks up pysot ``key`` in siamjax variables (independent of the converter)."""
    parts = key.split(".")
    leaf = parts[-1]
    if leaf in ("running_mean", "running_var"):
        tree = variables["batch_stats"]
        parts[-1] = {"running_mean": "mean", "running_var": "var"}[leaf]
    else:
        tree = variables["params"]
        if leaf == "weight":
            module = tree
            for part in parts[:-1]:
                module = module[part]
            parts[-1] = "kernel" if "kernel" in module else "scale"
    for part in parts:
        tree = tree[part]
    return np.asarray(tree)


def test_spec_key_list_matches_spec_counts():
    keys = spec_r50_keys()
    assert len(keys) == 458
    params = sum(
        int(np.prod(shape))
        for key, shape in keys
        if not key.endswith(("running_mean", "running_var", "num_batches_tracked"))
    )
    assert params == 53_950_624


@pytest.mark.parametrize("wrapped, prefixed, tracked", [(False, False, True), (True, True, False)])
def test_convert_round_trip_spec_state_dict(tmp_path, wrapped, prefixed, tracked):
    keys = spec_r50_keys(tracked=tracked)
    state = _random_state(keys)
    stored = collections.OrderedDict(
        (("module." + k) if prefixed else k, v) for k, v in state.items()
    )
    path = tmp_path / "model.pth"
    save_pth(str(path), {"state_dict": stored, "epoch": 19} if wrapped else stored)
    out = tmp_path / "ckpt"
    config = config_path("siamrpn_r50_l234_dwxcorr")
    status = main(["convert", "--pysot", str(path), "--config", config, "--out", str(out)])
    assert status == 0
    variables = load_variables(str(out))
    for key, value in state.items():
        if key.endswith("num_batches_tracked"):
            continue
        ours = _leaf(variables, key)
        if value.ndim == 4:
            ours = ours.transpose(3, 2, 0, 1)  # HWIO -> OIHW
        assert ours.shape == value.shape, key
        assert ours.tobytes() == value.tobytes(), key


def _convert(tmp_path, path, config="siamrpn_r50_l234_dwxcorr"):
    return main(["convert", "--pysot", str(path), "--config", config_path(config),
                 "--out", str(tmp_path / "out")])  # fmt: skip


def test_wrong_architecture_names_first_mismatch(tmp_path, capsys):
    path = tmp_path / "lt.pth"
    save_pth(str(path), _random_state(spec_r50_keys(neck=(128, 256, 512))))
    assert _convert(tmp_path, path) == 2
    err = capsys.readouterr().err
    assert "neck.downsample2.downsample.0.weight" in err
    assert "(128, 512, 1, 1)" in err and "(256, 512, 1, 1)" in err
    assert not (tmp_path / "out").exists()


def test_missing_and_unexpected_keys_are_listed(tmp_path, capsys):
    state = _random_state(spec_r50_keys())
    del state["rpn_head.rpn3.loc.head.3.bias"]
    state["rpn_head.extra.weight"] = np.zeros(3, np.float32)
    path = tmp_path / "m.pth"
    save_pth(str(path), state)
    assert _convert(tmp_path, path) == 2
    err = capsys.readouterr().err
    assert "1 keys missing" in err and "rpn_head.rpn3.loc.head.3.bias" in err
    assert "1 unexpected keys" in err and "rpn_head.extra.weight" in err


def test_other_model_family_is_rejected(tmp_path, capsys):
    path = tmp_path / "r50.pth"
    save_pth(str(path), _random_state(spec_r50_keys()))
    assert _convert(tmp_path, path, config="siamrpn_alex_dwxcorr") == 2
    err = capsys.readouterr().err
    assert "missing from the checkpoint" in err and "backbone.features.0.weight" in err


def test_bad_files_exit_non_zero(tmp_path, capsys):
    truncated = tmp_path / "t.pth"
    save_pth(str(truncated), _random_state(spec_r50_keys()[:20]))
    truncated.write_bytes(truncated.read_bytes()[:5000])
    assert _convert(tmp_path, truncated) == 2
    assert "truncated" in capsys.readouterr().err
    text = tmp_path / "x.pth"
    text.write_text("not a model")
    assert _convert(tmp_path, text) == 2
    assert "not a PyTorch checkpoint" in capsys.readouterr().err
    evil = tmp_path / "evil.pth"
    marker = tmp_path / "ran"
    with zipfile.ZipFile(evil, "w") as archive:
        archive.writestr("archive/data.pkl", _malicious_pickle(marker))
    assert _convert(tmp_path, evil) == 2
    assert "os.system" in capsys.readouterr().err
    assert not marker.exists()


def test_imagenet_backbone_maps_matching_keys_and_lists_the_rest(tmp_path, capsys):
    rng = np.random.default_rng(0)
    state = collections.OrderedDict()
    channels = (96, 256, 384, 384, 256)
    inputs = (3,) + channels[:-1]
    for layer, (cin, cout, side) in enumerate(zip(inputs, channels, (11, 5, 3, 3, 3)), start=1):
        state[f"layer{layer}.0.weight"] = rng.normal(size=(cout, cin, side, side)).astype("f4")
        state[f"layer{layer}.0.bias"] = rng.normal(size=cout).astype("f4")
        for name in ("weight", "bias", "running_mean", "running_var"):
            state[f"layer{layer}.1.{name}"] = rng.uniform(0.5, 1, size=cout).astype("f4")
    state["layer5.0.bias"] = np.zeros(7, np.float32)  # wrong shape: not loaded
    state["fc.weight"] = np.zeros((1000, 256), np.float32)  # classifier: unused
    path = tmp_path / "alexnet-bn.pth"
    save_pth(str(path), {"state_dict": state})
    report = tmp_path / "report.json"
    out = tmp_path / "init"
    config = ["--config", config_path("siamrpn_alex_dwxcorr"),
              "--config.model.backbone.name=alexnet"]  # fmt: skip
    status = main(["convert", "--imagenet", str(path), *config, "--out", str(out),
                   "--report", str(report)])  # fmt: skip
    assert status == 0
    printed = capsys.readouterr().out
    assert "loaded: 29" in printed and "fc.weight" in printed and "layer5.0.bias" in printed
    variables = load_variables(str(out))
    kernel = variables["params"]["backbone"]["layer1"]["0"]["kernel"]
    assert kernel.transpose(3, 2, 0, 1).tobytes() == state["layer1.0.weight"].tobytes()
    var = variables["batch_stats"]["backbone"]["layer4"]["1"]["var"]
    assert var.tobytes() == state["layer4.1.running_var"].tobytes()
    assert "rpn_head" in variables["params"]  # the head is initialised, not missing


def test_released_alex_layout_converts_into_the_training_layout_and_back(tmp_path):
    """pysot's released alex model (legacy ``features``) loads into the training recipe's
    per-layer AlexNet, computes the same, and converts back to the same keys."""
    import jax

    from siamjax.config_loader import load_config
    from siamjax.models import build_model, init_variables
    from siamjax.models.convert import alexnet_layout_renames, flax_to_pysot

    legacy_config = load_config(config_path("siamrpn_alex_dwxcorr"))
    layered_config = load_config(config_path("siamrpn_alex_dwxcorr_16gpu"))
    legacy_model, layered_model = (
        build_model(legacy_config.model),
        build_model(layered_config.model),
    )
    legacy = jax.device_get(init_variables(legacy_model, jax.random.key(1), 127, 255))
    released = flax_to_pysot(legacy)
    assert "backbone.features.14.weight" in released and "backbone.layer5.0.weight" not in released
    assert alexnet_layout_renames()["backbone.features.15."] == "backbone.layer5.1."
    path = tmp_path / "model.pth"
    save_pth(str(path), released)
    assert _convert(tmp_path, path, "siamrpn_alex_dwxcorr_16gpu") == 0
    layered = load_variables(str(tmp_path / "out"))
    assert "layer4" in layered["params"]["backbone"]
    rng = np.random.default_rng(0)
    template = rng.uniform(0, 255, (1, 127, 127, 3)).astype(np.float32)
    search = rng.uniform(0, 255, (1, 255, 255, 3)).astype(np.float32)
    expected = legacy_model.apply(legacy, template, search)
    got = layered_model.apply(layered, template, search)
    for want, have in zip(jax.tree.leaves(expected), jax.tree.leaves(got), strict=True):
        np.testing.assert_allclose(np.asarray(have), np.asarray(want), rtol=1e-5, atol=1e-4)
    # and back: the per-layer model exports, and converts into the legacy layout
    save_pth(str(tmp_path / "layered.pth"), flax_to_pysot(layered))
    (tmp_path / "back").mkdir()
    assert _convert(tmp_path / "back", tmp_path / "layered.pth", "siamrpn_alex_dwxcorr") == 0
    back = load_variables(str(tmp_path / "back" / "out"))
    for want, have in zip(jax.tree.leaves(legacy), jax.tree.leaves(back), strict=True):
        np.testing.assert_array_equal(np.asarray(have), np.asarray(want))
