"""The backend policy: every choice made because of XLA:CPU, resolved in one place.

The network computes the same values on every backend; what differs is *how*. On the
2-core CPU we develop on, several formulations and compiler settings measured faster or
smaller than XLA's plain ones (benchmarks/README.md). None of them is known to help a GPU
or a TPU, so there the plain XLA formulation is used. ``resolve_policy(config)`` picks per
``jax.default_backend()`` (``'gpu'`` as JAX reports it, or a lowering name: ``siamjax/
platforms.py``); every field of ``config.backend`` may override it (``'auto'`` by default):

================  ==========================  ==========================  =========================
field             CPU (auto)                  GPU / TPU (auto)            what it is
================  ==========================  ==========================  =========================
conv              ``matmul``                  ``xla``                     1x1 convs as one matmul,
                                                                          wide stride-1 convs as
                                                                          per-row matmuls
depthwise_conv    ``shifted_products``        ``grouped``                 MobileNet's 3x3 depthwise
                                                                          convs as k·k products
correlation       ``taps``                    ``grouped``                 depthwise xcorr as a sum
                                                                          of shifted products
matmul_precision  ``default`` (XLA:CPU is     ``highest``                 float32 matmul / conv
                  float32 at any setting)                                 precision (TF32, bf16
                                                                          passes or float32)
frozen_backbone   ``by_sample``               ``batched``                 frozen backbone run with
                                                                          ``lax.map`` over samples
tracker_batch     ``map``                     ``vectorized``              tracker batch N > 1 as
                                                                          ``lax.map`` over samples
seed_ensemble     ``unrolled``                ``vectorized``              a seed ensemble's train
                                                                          step as one step per
                                                                          member in one program
remat             ``blocks_keep_convs`` on    ``none``                    recompute activations in
                  the parts that declare it                               backward (memory)
ynn_fusions       as each backbone declares   (not applicable)            XLA:CPU's YNNPACK fusions
init_scheduler    ``memory_optimized``        ``default``                 XLA:CPU scheduler of the
                                                                          model initialisation
trim_host_memory  ``on``                      ``off``                     glibc ``malloc_trim``
                                                                          after compiles
onnx_template     as each backbone declares   as on CPU (ONNX Runtime     the ONNX Runtime
                  (``input`` unless it says   runs on the CPU)            tracker's template
                  ``constants``)                                          features: graph inputs,
                                                                          or constants of a
                                                                          session per template
================  ==========================  ==========================  =========================

Each pair of formulations gives the same outputs and gradients (tests/models/
formulation_test.py), so a choice here is a speed / memory choice only. Model parts
*declare* what they support and what measured best for them on XLA:CPU with a
``cpu_traits`` class attribute (``CpuTraits``); the policy never inspects concrete
classes, so a new backbone without a declaration simply gets XLA's defaults.
"""

from __future__ import annotations

import contextlib
import contextvars
import dataclasses
from collections.abc import Iterator, Mapping

import jax

# The policy is keyed on jax.export's lowering names; resolve_policy also takes the names
# JAX reports at run time ('gpu' included) and converts them.
from siamjax.platforms import lowering_platform

CHOICES = {
    "conv": ("xla", "matmul"),
    "depthwise_conv": ("grouped", "shifted_products"),
    "correlation": ("grouped", "taps"),
    "matmul_precision": ("default", "high", "highest"),
    "frozen_backbone": ("batched", "by_sample"),
    "tracker_batch": ("vectorized", "map"),
    "seed_ensemble": ("vectorized", "unrolled"),
    "remat": ("none", "blocks", "blocks_keep_convs"),
    "ynn_fusions": ("on", "off"),
    "init_scheduler": ("default", "memory_optimized"),
    "trim_host_memory": ("off", "on"),
    "onnx_template": ("input", "constants"),
}


def _check_choice(field: str, value) -> None:
    if value not in CHOICES[field]:
        expected = ", ".join(repr(choice) for choice in ("auto",) + CHOICES[field])
        raise ValueError(f"config.backend.{field} is {value!r}; expected one of {expected}")


@dataclasses.dataclass(frozen=True)
class Formulation:
    """How the network's ops are written (a hashable field of ``SiamRPN``).

    Attributes:
      conv: 'xla' (``lax.conv_general_dilated``) or 'matmul' (1x1 convs as one matmul,
        stride-1 convs with kernels >= 5 as one matmul per kernel row).
      depthwise_conv: 'grouped' (one grouped convolution) or 'shifted_products'.
      correlation: how the 'depthwise' correlation runs: 'grouped' (one grouped
        convolution, as pysot) or 'taps' (a sum of shifted products).
      matmul_precision: ``jax.default_matmul_precision`` of every float32 matmul and
        convolution the model traces: 'default' (the backend's own: full float32 on
        XLA:CPU, TF32 on NVIDIA Ampere and newer, one bfloat16 pass on TPU), 'high'
        (TF32 / three bfloat16 passes) or 'highest' (float32 everywhere; parity with
        pysot). bfloat16 compute is unaffected.
    """

    conv: str = "xla"
    depthwise_conv: str = "grouped"
    correlation: str = "grouped"
    matmul_precision: str = "default"

    def __post_init__(self):
        for field in dataclasses.fields(self):
            _check_choice(field.name, getattr(self, field.name))


PLAIN = Formulation()
CPU_TUNED = Formulation(conv="matmul", depthwise_conv="shifted_products", correlation="taps")
# GPU and TPU: XLA's plain ops in float32 (their default precision rounds float32
# matmuls to TF32 / bfloat16, and values must not depend on the backend).
ACCELERATOR = Formulation(matmul_precision="highest")

_ACTIVE_FORMULATION = contextvars.ContextVar("siamjax_formulation", default=PLAIN)


def active_formulation() -> Formulation:
    """The formulation layers use while they are traced (see ``formulated``)."""
    return _ACTIVE_FORMULATION.get()


@contextlib.contextmanager
def formulated(formulation: Formulation) -> Iterator[None]:
    """Makes ``formulation`` active for layers traced inside the block.

    ``SiamRPN`` wraps each of its methods in this with its own ``formulation`` field, so
    a model's choice is part of the model (jit caches key on it). Code that traces a
    part (a backbone alone) under its own ``jax.jit`` must enter the block inside the
    jitted function, or jit's cache will not see the choice.
    """
    token = _ACTIVE_FORMULATION.set(formulation)
    try:
        if formulation.matmul_precision == "default":
            yield
        else:
            with jax.default_matmul_precision(formulation.matmul_precision):
                yield
    finally:
        _ACTIVE_FORMULATION.reset(token)


def default_formulation(platform: str | None = None) -> Formulation:
    """The 'auto' formulation of ``platform`` (either kind of name, ``siamjax/platforms.py``;
    default: ``jax.default_backend()``)."""
    return CPU_TUNED if lowering_platform(platform) == "cpu" else ACCELERATOR


@dataclasses.dataclass(frozen=True)
class CpuTraits:
    """What a model part declares about running it on a CPU (a ``cpu_traits`` class
    attribute; measurements in benchmarks/README.md).

    Attributes:
      recompute_phases: training phases (0: backbone frozen, 1: backbone layers trained)
        whose backward pass recomputes this part's activations. The part then has a
        ``remat`` field taking a ``recompute.POLICIES`` key or 'none'.
      ynn_fusion_phases: for a backbone, the phases whose train step keeps XLA:CPU's
        YNNPACK fusions on (its default); the others switch them off.
      onnx_template_constants: for a backbone, whether the ONNX Runtime tracker builds a
        search session per template with the template's features as constants (then ONNX
        Runtime folds the heads' template branch and runs the depthwise correlations in
        its blocked layout; each new template costs a session build) instead of feeding
        them as inputs to one session. Declared where it measured faster per frame.
    """

    recompute_phases: tuple[int, ...] = ()
    ynn_fusion_phases: tuple[int, ...] = (0, 1)
    onnx_template_constants: bool = False


NO_TRAITS = CpuTraits()


def traits_of(part) -> CpuTraits:
    """The ``CpuTraits`` a module (or None) declares; XLA's defaults when it declares none."""
    return getattr(type(part), "cpu_traits", NO_TRAITS)


MODEL_PARTS = ("backbone", "neck", "rpn_head")


@dataclasses.dataclass(frozen=True)
class BackendPolicy:
    """Every backend-dependent choice, resolved (no 'auto' left). See the module table."""

    platform: str
    formulation: Formulation
    frozen_backbone: str
    tracker_batch: str
    seed_ensemble: str
    remat: str
    ynn_fusions: str | None  # None: each backbone's declaration (CPU only)
    init_scheduler: str
    trim_host_memory: bool
    onnx_template: str | None = None  # None: each backbone's declaration
    overridden: frozenset[str] = frozenset()  # fields set in config.backend

    @property
    def on_cpu(self) -> bool:
        return self.platform == "cpu"

    def remat_parts(self, model, phase: int) -> tuple[str, ...]:
        """Names of ``model``'s parts recomputed in ``phase``'s backward pass."""
        if self.remat == "none":
            return ()
        declared = {part: traits_of(getattr(model, part)) for part in MODEL_PARTS}
        return tuple(part for part, traits in declared.items() if phase in traits.recompute_phases)

    def with_remat(self, model, phase: int):
        """``model`` whose parts recomputed in ``phase`` carry ``remat``.

        Raises ValueError when ``config.backend.remat`` asks for recomputation and no part
        of ``model`` declares any (it would silently do nothing).
        """
        if "remat" in self.overridden and self.remat != "none":
            if not any(traits_of(getattr(model, part)).recompute_phases for part in MODEL_PARTS):
                names = ", ".join(type(getattr(model, part)).__name__ for part in MODEL_PARTS)
                raise ValueError(
                    f"config.backend.remat is {self.remat!r} but no part of this model "
                    f"recomputes ({names}); use 'none' or 'auto'"
                )
        parts = self.remat_parts(model, phase)
        if not parts:
            return model
        return model.clone(**{part: getattr(model, part).clone(remat=self.remat) for part in parts})

    def train_compiler_options(
        self, model, phase: int, compute_dtype: str = "float32"
    ) -> dict | None:
        """``jax.jit(compiler_options=)`` of the train step of ``phase`` (None: defaults).

        The YNNPACK choices are float32 (and bfloat16) measurements; a float64 step (the
        parity checks) keeps XLA's defaults, without which XLA:CPU's float64 convolutions
        run several times slower (measured in docs/parity.md, training trajectory).
        """
        if not self.on_cpu or str(compute_dtype) == "float64":
            return None
        if self.ynn_fusions is None:
            keep = phase in traits_of(model.backbone).ynn_fusion_phases
        else:
            keep = self.ynn_fusions == "on"
        return None if keep else {"xla_cpu_experimental_ynn_fusion_type": ""}

    def onnx_template_constants(self, model) -> bool:
        """Whether the ONNX Runtime tracker of ``model`` bakes each template's features
        into its search session (``onnx_template`` 'constants') or feeds them ('input')."""
        if self.onnx_template is None:
            return traits_of(model.backbone).onnx_template_constants
        return self.onnx_template == "constants"

    def init_compiler_options(self) -> dict | None:
        """``compiler_options`` of the model initialisation (None: defaults)."""
        if self.on_cpu and self.init_scheduler == "memory_optimized":
            return {"xla_cpu_scheduler_type": "CPU_SCHEDULER_TYPE_MEMORY_OPTIMIZED"}
        return None

    def describe(self) -> str:
        """One line for logs: the platform and each resolved choice."""
        fields = dataclasses.asdict(self)
        fields.update(fields.pop("formulation"))
        overridden = fields.pop("overridden")
        platform = fields.pop("platform")
        if fields["ynn_fusions"] is None:
            fields["ynn_fusions"] = "per backbone" if platform == "cpu" else "n/a"
        if fields["onnx_template"] is None:
            fields["onnx_template"] = "per backbone"
        return f"{platform}: " + ", ".join(
            f"{key}={value}" + (" (config)" if key in overridden else "")
            for key, value in fields.items()
        )


def _auto(platform: str) -> dict:
    cpu = platform == "cpu"
    return {
        "frozen_backbone": "by_sample" if cpu else "batched",
        "tracker_batch": "map" if cpu else "vectorized",
        "seed_ensemble": "unrolled" if cpu else "vectorized",
        "remat": "blocks_keep_convs" if cpu else "none",
        "ynn_fusions": None,
        "init_scheduler": "memory_optimized" if cpu else "default",
        "trim_host_memory": cpu,
        "onnx_template": None,
    }


def resolve_policy(config=None, platform: str | None = None) -> BackendPolicy:
    """The policy for ``platform`` (default: ``jax.default_backend()``) with the overrides
    in ``config.backend`` (``config``: a full config; None or no section: all 'auto').

    ``platform`` may be a name JAX reports at run time ('cpu', 'gpu', 'tpu') or a lowering
    name ('cpu', 'cuda', 'rocm', 'tpu'); the policy's ``platform`` is the lowering name.
    """
    platform = lowering_platform(platform)
    overrides = _overrides(config)
    unknown = sorted(set(overrides) - set(CHOICES))
    if unknown:
        raise ValueError(
            f"config.backend has unknown field(s) {unknown}; expected {sorted(CHOICES)}"
        )
    chosen = {key: value for key, value in overrides.items() if value != "auto"}
    for key, value in chosen.items():
        _check_choice(key, value)
    base = default_formulation(platform)
    formulation = Formulation(
        **{
            field.name: chosen.get(field.name, getattr(base, field.name))
            for field in dataclasses.fields(Formulation)
        }
    )
    resolved = _auto(platform)
    resolved.update({k: v for k, v in chosen.items() if k in resolved})
    if isinstance(resolved["trim_host_memory"], str):
        resolved["trim_host_memory"] = resolved["trim_host_memory"] == "on"
    return BackendPolicy(
        platform=platform, formulation=formulation, overridden=frozenset(chosen), **resolved
    )


def _overrides(config) -> dict:
    section = None if config is None else config.get("backend")
    if section is None:
        return {}
    if not isinstance(section, Mapping) and not hasattr(section, "items"):
        raise ValueError(f"config.backend must be a mapping, got {type(section).__name__}")
    return dict(section.items())
