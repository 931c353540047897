"""What recomputation saves: XLA's memory analysis of compiled gradients, plain vs recomputed.

    python benchmarks/remat_memory.py

Prints the temporaries (``compiled.memory_analysis().temp_size_in_bytes``) of the
gradient of a ResNet (Bottleneck 1-3-3-1, layer3 output, batch 4 of 95x95) for
``remat`` 'none' / 'blocks' / 'blocks_keep_convs', and of the MultiRPN head (32 channels,
batch 4, 7x7 template and 31x31 search features) plain and recomputed. These are XLA
internals: they vary with the jaxlib version and the backend, so they are measured here
rather than asserted by the tests (which check that recomputation leaves values and
gradients unchanged). On XLA:CPU ``nn.remat`` alone saves nothing (siamjax/models/recompute.py).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np


def resnet_temporaries(remat: str) -> int:
    from siamjax.models.backbones import Bottleneck, ResNet

    images = jnp.zeros((4, 95, 95, 3), jnp.float32)
    model = ResNet(Bottleneck, (1, 3, 3, 1), used_layers=(3,), remat=remat)
    variables = model.init(jax.random.key(0), images[:1])

    def loss(params):
        features, _ = model.apply(
            {"params": params, "batch_stats": variables["batch_stats"]}, images, True,
            mutable=["batch_stats"],
        )  # fmt: skip
        return sum(jnp.mean(f**2) for f in features.values())

    compiled = jax.jit(jax.grad(loss)).lower(variables["params"]).compile()
    return compiled.memory_analysis().temp_size_in_bytes


def head_temporaries(remat: str) -> int:
    from siamjax.models.heads import MultiRPN

    rng = np.random.default_rng(1)
    levels = ("stage2", "stage3", "stage4")

    def features(size):
        return {
            level: jnp.asarray(rng.normal(size=(4, size, size, 32)), jnp.float32)
            for level in levels
        }

    template, search = features(7), features(31)
    head = MultiRPN(anchor_num=5, in_channels=(32,) * 3, correlation="depthwise_taps",
                    remat=remat)  # fmt: skip
    variables = head.init(jax.random.key(0), template, search)

    def loss(params):
        (cls, loc), _ = head.apply(
            {"params": params, "batch_stats": variables["batch_stats"]}, template, search,
            True, mutable=["batch_stats"],
        )  # fmt: skip
        return jnp.mean(cls**2) + jnp.mean(loc**2)

    compiled = jax.jit(jax.grad(loss)).lower(variables["params"]).compile()
    return compiled.memory_analysis().temp_size_in_bytes


def main() -> None:
    print(f"jax {jax.__version__}, backend {jax.default_backend()}")
    plain = resnet_temporaries("none")
    print(f"ResNet gradient temporaries: none {plain / 1e6:.1f} MB")
    for remat in ("blocks", "blocks_keep_convs"):
        size = resnet_temporaries(remat)
        print(f"  {remat}: {size / 1e6:.1f} MB ({size / plain:.2f} of none)")
    plain = head_temporaries("none")
    size = head_temporaries("blocks_keep_convs")
    print(f"MultiRPN gradient temporaries: none {plain / 1e6:.1f} MB, recomputed "
          f"{size / 1e6:.1f} MB ({size / plain:.2f} of none)")  # fmt: skip


if __name__ == "__main__":
    main()
