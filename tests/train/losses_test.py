import jax.numpy as jnp
import numpy as np

from siamjax.train.losses import classification_loss, localisation_loss, total_loss
from siamjax.train.targets import Targets


def test_classification_loss_balances_positive_and_negative_means():
    scores = np.zeros((2, 3, 3, 5, 2), np.float32)
    label = -np.ones((2, 3, 3, 5), np.int32)
    label[0, 0, 0, 0] = 1
    label[0, 1, 1, 1] = 1
    scores[0, 0, 0, 0] = [0.0, 2.0]  # -log p1 = log(1 + e^-2)
    label[1, 2, 2, 3] = 0
    label[1, 0, 1, 4] = 0
    label[1, 1, 0, 4] = 0
    scores[1, 2, 2, 3] = [1.0, 0.0]  # -log p0 = log(1 + e^-1)
    loss_pos = (np.log1p(np.exp(-2.0)) + np.log(2.0)) / 2
    loss_neg = (np.log1p(np.exp(-1.0)) + 2 * np.log(2.0)) / 3
    value = classification_loss(jnp.asarray(scores), jnp.asarray(label))
    np.testing.assert_allclose(value, 0.5 * loss_pos + 0.5 * loss_neg, rtol=1e-6)


def test_empty_and_single_element_sets():
    scores = jnp.zeros((1, 2, 2, 1, 2))
    label = jnp.asarray([[[[0], [-1]], [[-1], [-1]]]])  # one negative, no positive
    np.testing.assert_allclose(classification_loss(scores, label), 0.5 * np.log(2), rtol=1e-6)
    # pysot's quirk: a set of exactly one anchor counts as empty
    assert float(classification_loss(scores, label, single_is_empty=True)) == 0.0


def test_localisation_loss_is_weighted_l1_over_the_batch():
    deltas = np.zeros((2, 2, 2, 1, 4), np.float32)
    delta = np.zeros_like(deltas)
    weight = np.zeros((2, 2, 2, 1), np.float32)
    deltas[0, 0, 0, 0] = [0.5, -0.5, 1.0, 0.0]  # |.| sum 2.0
    deltas[0, 1, 1, 0] = [0.1, 0.0, 0.0, 0.0]  # 0.1
    weight[0, 0, 0, 0] = weight[0, 1, 1, 0] = 0.5
    deltas[1] = 9.0  # weight 0: a negative sample contributes nothing but counts in N
    value = localisation_loss(jnp.asarray(deltas), jnp.asarray(delta), jnp.asarray(weight))
    np.testing.assert_allclose(value, (0.5 * 2.0 + 0.5 * 0.1) / 2, rtol=1e-6)


def test_total_loss_weights():
    outputs = {"scores": jnp.zeros((1, 1, 1, 1, 2)), "deltas": jnp.ones((1, 1, 1, 1, 4))}
    targets = Targets(jnp.ones((1, 1, 1, 1), jnp.int32), jnp.zeros((1, 1, 1, 1, 4)),
                      jnp.ones((1, 1, 1, 1)))  # fmt: skip
    total, terms = total_loss(outputs, targets)
    np.testing.assert_allclose(terms["cls_loss"], 0.5 * np.log(2), rtol=1e-6)
    np.testing.assert_allclose(terms["loc_loss"], 4.0)
    np.testing.assert_allclose(total, 0.5 * np.log(2) + 1.2 * 4.0, rtol=1e-6)
