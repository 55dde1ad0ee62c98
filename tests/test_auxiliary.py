"""The Auxiliary depth CNN (De-Spoof paper, Tab. 1, DQ Net column): shapes, Tab. 1 parameter count, loss, score,
and a toy training run of AuxiliaryTrainer."""
import numpy as np
import pytest

N = 32
WIDTH = 0.25
PAIRS = 2


def test_output_is_a_k_by_k_depth_map_and_hsv_is_added_inside():
    import keras
    import tensorflow as tf

    from physstd.models import ModelConfig
    from physstd.methods.auxiliary.network import AuxiliaryNet, rgb_hsv

    keras.utils.set_random_seed(0)
    net = AuxiliaryNet(ModelConfig(N, WIDTH))
    images = tf.random.uniform((2, N, N, 3), seed=1)
    depth = net(images)
    assert depth.shape == (2, N // 8, N // 8, 1) and depth.dtype == tf.float32
    # A 6-channel input is taken as RGB+HSV already: the same result as the RGB image.
    np.testing.assert_allclose(net(rgb_hsv(images)).numpy(), depth.numpy(), rtol=1e-6, atol=1e-7)
    hsv = tf.image.rgb_to_hsv(images)   # the fused op; ours is its formula in portable ops (test_ops_color.py)
    np.testing.assert_allclose(rgb_hsv(images)[..., 3:].numpy(), hsv.numpy(), rtol=0, atol=1e-6)
    rebuilt = AuxiliaryNet.from_config(net.get_config())
    assert rebuilt.model_config == net.model_config and rebuilt.name == net.name
    for bad in ((2, N, N, 4), (2, N + 8, N + 8, 3)):
        with pytest.raises(ValueError, match="AuxiliaryNet expects"):
            net(tf.zeros(bad))


def test_width_one_is_table_1_and_its_parameter_count():
    import tensorflow as tf

    from physstd.models import ModelConfig
    from physstd.methods.auxiliary.network import AuxiliaryNet

    net = AuxiliaryNet(ModelConfig(N, 1.0))
    net(tf.zeros((1, N, N, 3)))
    convs = [layer.conv.filters for block in net.blocks for layer in block] + [layer.conv.filters
                                                                                for layer in net.head]
    assert convs == [64, 128, 196, 128, 128, 196, 128, 128, 196, 128, 128, 64]  # conv3-0 .. conv3-11
    # 3x3 kernels, no bias before BN; BN holds 4 numbers per channel (gamma, beta, moving mean and variance).
    kernels = (9 * 6 * 64 + 9 * 64 * 128 + 9 * 128 * 196 + 9 * 196 * 128          # block 1: 3456+73728+225792*2
               + 2 * (9 * 128 * 128 + 9 * 128 * 196 + 9 * 196 * 128)               # blocks 2, 3: 2 * 599040
               + 9 * 384 * 128 + 9 * 128 * 64                                      # conv3-10 (3 x 128 in), 3-11
               + 9 * 64 * 1 + 1)                                                   # conv3-12 with bias
    batch_norm = 4 * (64 + 128 + 196 + 128 + 2 * (128 + 196 + 128) + 128 + 64)    # 4 * 1612
    assert kernels == 2_243_521 and batch_norm == 6_448
    assert net.count_params() == kernels + batch_norm == 2_249_969  # independent of N


def test_loss_is_l1_to_m0_and_the_score_is_minus_the_depth_mean():
    import tensorflow as tf

    from physstd.methods.auxiliary import losses as lb

    depth = tf.constant([[[0.5, 1.0], [0.0, 0.25]], [[0.2, 0.2], [0.2, 0.2]]])[..., None]
    target = tf.constant([[[1.0, 1.0], [0.0, 0.0]], [[0.0, 0.0], [0.0, 0.0]]])[..., None]
    # |.5-1| + 0 + 0 + .25 = .75 on the live map, 4 * .2 = .8 on the spoof map: (.75 + .8) / 8 elements.
    assert float(lb.auxiliary_depth_loss(depth, target)) == pytest.approx(1.55 / 8)
    np.testing.assert_allclose(lb.auxiliary_score(depth).numpy(), [-1.75 / 4, -0.2], rtol=1e-6)


@pytest.fixture(scope="module")
def trained():
    """An AuxiliaryTrainer, the toy batch, and the losses of 5 steps on it."""
    import keras

    from physstd.models import ModelConfig
    from physstd.methods.auxiliary.trainer import AuxiliaryTrainer
    from physstd.train.config import TrainConfig
    from physstd.data.toy import random_batch

    keras.utils.set_random_seed(0)
    trainer = AuxiliaryTrainer(ModelConfig(N, WIDTH), TrainConfig(learning_rate=1e-3, batch_size=2 * PAIRS))
    batch = random_batch(N, PAIRS, seed=1)
    history = [{k: float(v) for k, v in trainer.train_step(batch).items()} for _ in range(5)]
    return trainer, batch, history


def test_five_toy_steps_lower_the_depth_loss(trained):
    trainer, batch, history = trained
    assert int(trainer.step.numpy()) == 5
    assert history[-1]["depth"] < 0.7 * history[0]["depth"], history
    assert all(h["total"] == h["depth"] for h in history)
    assert trainer.variables_finite()
    assert float(trainer.learning_rate()) == pytest.approx(1e-3)


def test_predict_visuals_and_checkpoint_objects(trained):
    import tensorflow as tf

    trainer, batch, _ = trained
    out = trainer.predict(batch["spoof"]["image"])
    np.testing.assert_allclose(out["score"].numpy(), -tf.reduce_mean(out["M"], axis=(1, 2, 3)).numpy(), rtol=1e-6)
    np.testing.assert_array_equal(out["depth_mean"].numpy(), -out["score"].numpy())
    visuals = trainer.visuals(batch)
    assert visuals["image"].shape == (2 * PAIRS, N, N, 3)
    assert visuals["M"].shape == visuals["depth_target"].shape == (2 * PAIRS, N // 8, N // 8, 1)
    objects = trainer.checkpoint_objects()
    assert set(objects) == {"auxiliary", "step", "optimizer"}
    assert len(objects["auxiliary"]._trackable_children()) == len(trainer.network.variables)
