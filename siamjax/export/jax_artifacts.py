"""``siamjax export``: the tracker network as serialized ``jax.export`` artifacts.

For each platform asked (``cpu``, ``cuda``, ``rocm``, ``tpu``; lowering needs no such
device) the model is built with that platform's backend policy (``siamjax/backend.py``)
and two functions are lowered with the weights inside:

* ``template_b{N}.{platform}.jaxexport``: template crops (N, 127, 127, 3) float32 BGR 0-255
  -> template features (a dict of arrays);
* ``search_b{N}_x{X}.{platform}.jaxexport``: (template features, search crops
  (N, X, X, 3)) -> ``{'scores': (N, S, S, A, 2), 'deltas': (N, S, S, A, 4)}`` (the tracker's
  layout: ``siamjax/models/layout.py``). X is the tracker's search size (and the
  long-term tracker's lost-target size).

``manifest.json`` lists every artifact with its shapes. Plain JAX loads and calls them
(no siamjax needed)::

    from jax import export
    with open("out/template_b1.cuda.jaxexport", "rb") as f:
        template = export.deserialize(f.read())
    features = template.call(crops)
"""

from __future__ import annotations

import json

import jax
import jax.numpy as jnp
import numpy as np

from siamjax import fs
from siamjax.backend import resolve_policy
from siamjax.models import build_model, make_search_fn, make_template_fn
from siamjax.platforms import LOWERING_PLATFORMS, UnknownPlatformError, lowering_platform

DEFAULT_PLATFORMS = ("cpu", "cuda", "tpu")


def search_sizes(config) -> tuple[int, ...]:
    """The search crop sizes the configured tracker feeds the network."""
    sizes = [int(config.track.instance_size)]
    if str(config.track.type) == "siamrpn_lt":
        sizes.append(int(config.track.lost_instance_size))
    return tuple(sizes)


def parse_platforms(text: str) -> tuple[str, ...]:
    """'cpu,cuda' -> ('cpu', 'cuda'), rejecting unknown names. 'gpu' (JAX's run-time
    name) becomes this machine's GPU lowering platform, 'cuda' or 'rocm'."""
    names = [p.strip().lower() for p in text.split(",") if p.strip()]
    expected = f"expected a comma-separated subset of {', '.join(LOWERING_PLATFORMS)}"
    if not names:
        raise ValueError(f"--platforms {text!r}: {expected}")
    platforms = []
    for name in names:
        try:
            platforms.append(lowering_platform(name))
        except UnknownPlatformError as error:
            raise ValueError(f"--platforms {text!r}: {error}; {expected}") from None
    return tuple(dict.fromkeys(platforms))


def _spec_list(tree) -> list:
    return [
        {"path": jax.tree_util.keystr(path), "shape": list(leaf.shape), "dtype": str(leaf.dtype)}
        for path, leaf in jax.tree_util.tree_leaves_with_path(tree)
    ]


def lower_tracker(config, variables, platform: str, batch_size: int = 1) -> list[tuple]:
    """``[(file name, jax.export.Exported, manifest entry)]`` of one platform's artifacts."""
    policy = resolve_policy(config, platform)
    model = build_model(config.model, policy.formulation)
    weights = jax.tree_util.tree_map(jnp.asarray, variables)
    template_fn, search_fn = make_template_fn(model), make_search_fn(model)
    exemplar = int(config.track.exemplar_size)
    template = jax.ShapeDtypeStruct((batch_size, exemplar, exemplar, 3), jnp.float32)

    def template_only(crops):
        return template_fn(weights, crops)

    def search_only(features, crops):
        return search_fn(weights, features, crops)

    artifacts = []
    exported = jax.export.export(jax.jit(template_only), platforms=[platform])(template)
    features = jax.eval_shape(template_only, template)
    name = f"template_b{batch_size}.{platform}.jaxexport"
    entry = {"function": "template", "platform": platform, "batch_size": batch_size,
             "inputs": _spec_list((template,)), "outputs": _spec_list(features)}  # fmt: skip
    artifacts.append((name, exported, entry))
    for size in search_sizes(config):
        search = jax.ShapeDtypeStruct((batch_size, size, size, 3), jnp.float32)
        exported = jax.export.export(jax.jit(search_only), platforms=[platform])(features, search)
        outputs = jax.eval_shape(search_only, features, search)
        name = f"search_b{batch_size}_x{size}.{platform}.jaxexport"
        entry = {"function": "search", "platform": platform, "batch_size": batch_size,
                 "search_size": size, "inputs": _spec_list((features, search)),
                 "outputs": _spec_list(outputs)}  # fmt: skip
        artifacts.append((name, exported, entry))
    return artifacts


def export_tracker(config, variables, out_dir: str, platforms=DEFAULT_PLATFORMS,
                   batch_sizes=(1,), progress=print) -> dict:  # fmt: skip
    """Writes every artifact and ``manifest.json`` to ``out_dir`` (local or a URL);
    returns the manifest."""
    fs.makedirs(out_dir)
    variables = jax.tree_util.tree_map(np.asarray, variables)
    manifest = {"config": str(config.get("name", "")), "jax_version": jax.__version__,
                "artifacts": []}  # fmt: skip
    for platform in platforms:
        for batch_size in batch_sizes:
            for name, exported, entry in lower_tracker(config, variables, platform, batch_size):
                data = exported.serialize()
                fs.write_bytes(fs.join(out_dir, name), bytes(data))
                manifest["artifacts"].append({"file": name, "bytes": len(data), **entry})
                progress(f"{name}: {len(data) / 2**10:,.0f} KiB")
    fs.write_text(fs.join(out_dir, "manifest.json"), json.dumps(manifest, indent=1) + "\n")
    return manifest
