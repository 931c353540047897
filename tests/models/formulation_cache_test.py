"""The formulation is read from a context variable while layers are traced; these tests
show that no jitted function of siamjax can be served a program traced under another
formulation: every entry point traces through ``SiamRPN``, whose methods set the model's
own ``formulation`` field, and that field is part of the model's identity (equality and
hash), which the jit caches key on. Programs are told apart by their convolutions: the
CPU formulation writes 1x1 convolutions as matmuls, so it lowers to fewer."""

import jax
import numpy as np
import pytest

from siamjax.backend import CPU_TUNED, PLAIN, formulated
from siamjax.config_defaults import base_config, r50_l234_model
from siamjax.models import build_model, make_search_fn, make_template_fn
from siamjax.tracking import TrackerNetwork


def _convolutions(lowered) -> int:
    return lowered.as_text().count("stablehlo.convolution")


@pytest.fixture(scope="module")
def models():
    config = base_config()
    r50_l234_model(config)
    plain, tuned = build_model(config.model, PLAIN), build_model(config.model, CPU_TUNED)
    template = np.zeros((1, 127, 127, 3), np.float32)
    search = np.zeros((1, 255, 255, 3), np.float32)
    variables = jax.eval_shape(plain.init, jax.random.key(0), template, search)
    features = jax.eval_shape(make_template_fn(plain), variables, template)
    return plain, tuned, variables, template, search, features


def test_models_of_different_formulations_are_different_cache_keys(models):
    plain, tuned, *_ = models
    assert plain != tuned and hash(plain) != hash(tuned)
    assert plain == plain.clone() and hash(plain) == hash(plain.clone())


def test_the_models_formulation_decides_the_program_whatever_the_ambient_one(models):
    plain, tuned, variables, template, search, features = models
    programs = {}
    for name, model in (("plain", plain), ("tuned", tuned)):
        search_fn = jax.jit(make_search_fn(model))
        template_fn = jax.jit(make_template_fn(model))
        counts = set()
        # First traced under the other formulation, then under none, then cached.
        other = CPU_TUNED if model is plain else PLAIN
        with formulated(other):
            counts.add((_convolutions(template_fn.lower(variables, template)),
                        _convolutions(search_fn.lower(variables, features, search))))  # fmt: skip
        counts.add((_convolutions(template_fn.lower(variables, template)),
                    _convolutions(search_fn.lower(variables, features, search))))  # fmt: skip
        assert len(counts) == 1, (name, counts)
        programs[name] = counts.pop()
    assert programs["tuned"][0] < programs["plain"][0], programs
    assert programs["tuned"][1] < programs["plain"][1], programs


def test_tracker_networks_of_two_formulations_share_no_jitted_function(models):
    plain, tuned, shapes, *_ = models
    variables = jax.tree_util.tree_map(lambda x: np.zeros(x.shape, x.dtype), shapes)
    first, second = TrackerNetwork(plain, variables), TrackerNetwork(tuned, variables)
    assert first._search_fn is not second._search_fn
    assert first._template_fn is not second._template_fn
    again = TrackerNetwork(plain.clone(), variables)  # an equal model reuses the functions
    assert again._search_fn is first._search_fn
