"""Re-estimating BatchNormalization's moving statistics (`tf_lrfinder.batchnorm`)."""

import keras
import numpy as np
import pytest

from tf_lrfinder.batchnorm import batchnorm_layers, update_bn

L = keras.layers


def test_update_bn_sets_the_moving_statistics_to_the_mean_of_the_batch_statistics():
    rng = np.random.default_rng(0)
    bn = L.BatchNormalization(momentum=0.99)
    model = keras.Sequential([keras.Input((3,)), bn, L.Dense(1)])
    batches = [(rng.normal(loc, scale, (16, 3)).astype("float32"), np.zeros((16, 1), "float32"))
               for loc, scale in ((0.0, 1.0), (5.0, 2.0), (-1.0, 0.5))]
    assert update_bn(model, batches) == 1
    np.testing.assert_allclose(bn.moving_mean.numpy(), np.mean([x.mean(axis=0) for x, _ in batches], axis=0),
                               rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(bn.moving_variance.numpy(), np.mean([x.var(axis=0) for x, _ in batches], axis=0),
                               rtol=1e-5)
    assert bn.momentum == 0.99  # put back


def test_update_bn_on_images_uses_per_channel_statistics_and_reads_bare_inputs():
    rng = np.random.default_rng(1)
    bn = L.BatchNormalization()
    model = keras.Sequential([keras.Input((4, 4, 2)), bn, L.GlobalAveragePooling2D(), L.Dense(1)])
    batches = [rng.normal(size=(8, 4, 4, 2)).astype("float32") * [1.0, 3.0] + [0.0, 2.0] for _ in range(2)]
    update_bn(model, batches)
    np.testing.assert_allclose(bn.moving_mean.numpy(), np.mean([x.mean(axis=(0, 1, 2)) for x in batches], axis=0),
                               rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(bn.moving_variance.numpy(),
                               np.mean([x.var(axis=(0, 1, 2)) for x in batches], axis=0), rtol=1e-5)


def test_nested_layers_are_found_and_frozen_ones_left_alone():
    inner = keras.Sequential([keras.Input((2,)), L.BatchNormalization(name="inner_bn")], name="inner")
    frozen = L.BatchNormalization(name="frozen_bn")
    frozen.trainable = False
    inputs = keras.Input((2,))
    model = keras.Model(inputs, L.Dense(1)(frozen(inner(inputs))))
    assert [layer.name for layer in batchnorm_layers(model)] == ["inner_bn"]
    before = [v.numpy().copy() for v in frozen.variables]
    assert update_bn(model, [np.full((4, 2), 3.0, "float32")]) == 1
    np.testing.assert_allclose(inner.layers[0].moving_mean.numpy(), [3.0, 3.0])
    for a, b in zip(before, frozen.variables):
        np.testing.assert_array_equal(a, b.numpy())


def test_without_batchnorm_or_batches_nothing_changes():
    model = keras.Sequential([keras.Input((2,)), L.Dense(1)])
    before = [v.numpy().copy() for v in model.variables]
    assert update_bn(model, [np.ones((4, 2), "float32")]) == 0
    assert all(np.array_equal(a, v.numpy()) for a, v in zip(before, model.variables))
    bn_model = keras.Sequential([keras.Input((2,)), L.BatchNormalization()])
    assert update_bn(bn_model, []) == 0
    np.testing.assert_array_equal(bn_model.layers[0].moving_mean.numpy(), [0.0, 0.0])


def test_the_momentum_is_put_back_when_a_batch_fails():
    bn = L.BatchNormalization(momentum=0.9)
    model = keras.Sequential([keras.Input((2,)), bn])
    with pytest.raises(Exception):
        update_bn(model, [np.ones((4, 2), "float32"), np.ones((4, 5), "float32")])  # the wrong width
    assert bn.momentum == 0.9
