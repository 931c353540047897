"""One freezing phase of a training run, built once: what trains, how, where, compiled.

pysot trains in two phases: until ``train.backbone.train_epoch`` the backbone is frozen
(its BatchNorm on running statistics, no backbone gradient), from then on
``train.backbone.train_layers`` train too, with batch statistics (docs/parity.md §7.3).
A ``Phase`` holds everything that differs between the two — the trainable mask, the
backbone's BatchNorm mode — together with what the step is compiled for (backend policy,
mesh, seed-ensemble members) and the compiled step itself. The loop builds a phase when
it enters it and steps with ``phase.step``; nothing else recomputes these.

    phase = Phase.build(model, config, optimizer, mesh, index=0, policy=policy)
    state = phase.enter(state)               # momentum buffers for this phase's parameters
    state, metrics = phase.step(state, batch)
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

from jax.sharding import Mesh

from siamjax.backend import BackendPolicy
from siamjax.train.optim import trainable_mask
from siamjax.train.step import (
    abstract_train_state,
    backbone_mode_of,
    compile_train_step,
    enter_phase,
)


def phase_index(step: int, unfreeze_step: int) -> int:
    """The phase iteration ``step + 1`` runs in (0 before the unfreeze, 1 from it on)."""
    return int(step >= unfreeze_step)


def saved_phase(step: int, unfreeze_step: int) -> int:
    """The phase whose optimiser layout a state after ``step`` iterations has: that of its
    last iteration (``Phase.enter`` refits it when the next iteration starts a phase)."""
    return phase_index(max(step - 1, 0), unfreeze_step)


@dataclasses.dataclass(frozen=True)
class Phase:
    """A training phase and its compiled step.

    Attributes:
      index: 0 (backbone frozen) or 1 (``train_layers`` trained).
      trainable: a tree like the parameters of bools, True where the phase trains.
      backbone_mode: the backbone's BatchNorm mode (``models.siamrpn`` layer modes).
      policy: the backend policy the step is compiled under.
      mesh: the devices the state is replicated and the batch sharded over.
      members: seed-ensemble members (None: a single model).
      step: the compiled ``(state, batch) -> (state, metrics)``; the state is donated.
    """

    index: int
    trainable: Any
    backbone_mode: Any
    policy: BackendPolicy
    mesh: Mesh
    members: int | None
    step: Callable
    _config: Any = dataclasses.field(repr=False, compare=False)
    _optimizer: Any = dataclasses.field(repr=False, compare=False)

    @classmethod
    def build(cls, model, config, optimizer, mesh: Mesh, index: int, policy: BackendPolicy,
              members: int | None = None) -> Phase:  # fmt: skip
        """Compiles the phase's step from the shapes of its state (momentum fitted to the
        phase, ``enter``) and of a global batch: nothing needs to exist yet, so the
        compiler's memory does not add to the state's."""
        # The mask depends on parameter paths only (a seed ensemble's leading axis is fine).
        params = abstract_train_state(model, config, optimizer, index, mesh, members).params
        compiled = compile_train_step(
            model, config, optimizer, mesh, index, policy=policy, members=members
        )
        return cls(
            index=index,
            trainable=trainable_mask(params, config, index),
            backbone_mode=backbone_mode_of(config, index),
            policy=policy,
            mesh=mesh,
            members=members,
            step=compiled,
            _config=config,
            _optimizer=optimizer,
        )

    def enter(self, state):
        """``state`` with momentum buffers for exactly this phase's trained parameters
        (``step.enter_phase``)."""
        return enter_phase(state, self._optimizer, self._config, self.index, self.mesh)
