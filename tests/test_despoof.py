"""De-Spoof (the De-Spoof paper): DS-Net / VQ-Net shapes and Tab. 1 parameter counts, every loss against a hand case,
the score components, and DeSpoofTrainer on toy batches (frozen DQ-Net, joint option, loading a DQ run)."""
import json
import os

import numpy as np
import pytest

N = 32
WIDTH = 0.25
PAIRS = 2


# --- networks ---------------------------------------------------------------------------------------------
def test_ds_net_and_vq_net_shapes():
    import keras
    import tensorflow as tf

    from physstd.models import ModelConfig
    from physstd.methods.despoof.networks import DSNet, VQNet

    keras.utils.set_random_seed(0)
    config = ModelConfig(N, WIDTH)
    images = tf.random.uniform((2, N, N, 3), seed=2)
    noise, zero_one_map = DSNet(config)(images)
    assert noise.shape == (2, N, N, 6) and zero_one_map.shape == (2, N // 8, N // 8, 1)
    assert float(tf.reduce_max(tf.abs(noise))) <= 1.0
    assert VQNet(config)(images).shape == (2, 2)


def test_width_one_is_table_1_and_its_parameter_counts():
    import tensorflow as tf

    from physstd.models import ModelConfig
    from physstd.methods.despoof.networks import DSNet, VQNet

    config = ModelConfig(N, 1.0)
    ds, vq = DSNet(config), VQNet(config)
    ds(tf.zeros((1, N, N, 3)))
    vq(tf.zeros((1, N, N, 3)))
    filters = [layer.conv.filters for block in ds.encoder_blocks for layer in block]
    assert filters == [24, 20, 25, 20, 20, 25, 20, 20, 25, 20]                     # conv1-0 .. conv1-9
    assert [layer.conv.filters for layer in ds.zero_one_head] == [28, 16]           # conv1-10, 1-11
    assert [layer.conv.filters for layer in ds.decoder] == [28, 24, 20, 20, 20, 16, 16]  # conv2-1 .. 2-7
    assert [layer.conv.filters for block in vq.blocks for layer in block] == [24, 20, 20, 16, 12, 6]
    # DS-Net: 3x3 kernels without bias before BN (4 numbers per channel); the two output convs have biases.
    encoder = (9 * 6 * 24 + 9 * 24 * 20 + 9 * 20 * 25 + 9 * 25 * 20               # 1296+4320+4500+4500
               + 2 * (9 * 20 * 20 + 9 * 20 * 25 + 9 * 25 * 20))                   # 2 * (3600+4500+4500)
    zero_one = 9 * 60 * 28 + 9 * 28 * 16 + (9 * 16 * 1 + 1)                      # short-cut 3 x 20 = 60 in
    decoder = (9 * 60 * 28 + 9 * 28 * 24 + 9 * 24 * 20 + 9 * 20 * 20 + 9 * 20 * 20 + 9 * 20 * 16
               + 9 * 16 * 16 + (9 * 16 * 6 + 6))
    ds_norm = 4 * ((24 + 20 + 25 + 20) + 2 * (20 + 25 + 20) + (28 + 16) + (28 + 24 + 20 + 20 + 20 + 16 + 16))
    assert (encoder, zero_one, decoder, ds_norm) == (39_816, 19_297, 38_742, 1_628)
    assert ds.count_params() == encoder + zero_one + decoder + ds_norm == 99_483
    # VQ-Net: six convs, then fc4-1 on the (N/8)^2 x 6 vector (N = 32: 96 inputs) and fc4-2 to 2 logits.
    vq_convs = 9 * 6 * 24 + 9 * 24 * 20 + 9 * 20 * 20 + 9 * 20 * 16 + 9 * 16 * 12 + 9 * 12 * 6  # 14472
    vq_norm = 4 * (24 + 20 + 20 + 16 + 12 + 6)
    fully_connected = ((N // 8) ** 2 * 6 * 100 + 100) + (100 * 2 + 2)
    assert vq.count_params() == vq_convs + vq_norm + fully_connected == 24_766
    # At N = 256 fc4-1 alone has 32^2 * 6 * 100 + 100 = 614500 parameters (VQ-Net 629566 in all).


# --- losses -------------------------------------------------------------------------------------------------
def _cosine(size, frequency, amplitude, axis):
    x = np.arange(size)
    wave = amplitude * np.cos(2 * np.pi * frequency * x / size)
    return np.broadcast_to(wave[None, :] if axis == 1 else wave[:, None], (size, size))


def test_high_frequency_peak_on_a_hand_made_spectrum():
    from physstd.methods.despoof import losses as lb

    centre = N // 4  # k = 64 at N = 256; the masked square is rows/columns 12..19 of the shifted spectrum
    # Channel 0: DC 0.5 and a strong low-frequency cosine (frequency 1, amplitude 0.8): both inside the centre.
    # Channel 1: a cosine of frequency 8 (shifted index 16 +- 8, outside) and amplitude 0.3 -> peak 0.3 / 2.
    noise = np.zeros((2, N, N, 6), np.float32)
    noise[0, :, :, 0] = 0.5 + _cosine(N, 1, 0.8, axis=1)
    noise[0, :, :, 1] = _cosine(N, 8, 0.3, axis=0)
    noise[1, :, :, 2] = 0.5 + _cosine(N, 1, 0.8, axis=0)  # nothing outside the centre: peak 0
    np.testing.assert_allclose(lb.high_frequency_peak(noise, centre).numpy(), [0.15, 0.0], atol=1e-6)
    # J_r: -peak for a spoof, +peak for a live sample, averaged over the batch.
    assert float(lb.repetitive_loss(noise, [1.0, 0.0], centre)) == pytest.approx(-0.075, abs=1e-6)
    assert float(lb.repetitive_loss(noise, [0.0, 1.0], centre)) == pytest.approx(0.075, abs=1e-6)


def test_high_frequency_peak_matches_numpy():
    from physstd.methods.despoof import losses as lb

    noise = np.random.default_rng(0).normal(size=(3, N, N, 2)).astype(np.float32)
    centre = 10
    spectrum = np.abs(np.fft.fftshift(np.fft.fft2(noise, axes=(1, 2)), axes=(1, 2))) / N ** 2
    start = N // 2 - centre // 2
    spectrum[:, start:start + centre, start:start + centre, :] = 0.0
    np.testing.assert_allclose(lb.high_frequency_peak(noise, centre).numpy(), spectrum.max(axis=(1, 2, 3)),
                               rtol=1e-5)


def test_zero_one_magnitude_depth_and_visual_quality_losses():
    import tensorflow as tf

    from physstd.methods.despoof import losses as lb

    zero_one_map = tf.constant([[[0.25, 0.0], [0.5, 0.25]], [[1.0, 0.5], [1.0, 0.5]]])[..., None]
    # live map vs 0: (.25 + 0 + .5 + .25); spoof map vs 1: (0 + .5 + 0 + .5); over 8 elements.
    assert float(lb.zero_one_map_loss(zero_one_map, [0, 1])) == pytest.approx(2.0 / 8)
    live_noise = tf.constant([[[[0.1, -0.3]]]])
    assert float(lb.magnitude_loss(live_noise)) == pytest.approx(0.2)
    assert float(lb.depth_quality_loss(zero_one_map, tf.ones_like(zero_one_map))) == pytest.approx(
        (0.75 + 1.0 + 0.5 + 0.75 + 0 + 0.5 + 0 + 0.5) / 8)
    # logits (0, log 3): p(real) = 1/4; logits (log 3, 0): p(real) = 3/4.
    quarter = tf.constant([[0.0, np.log(3.0)]], tf.float32)
    three_quarters = tf.constant([[np.log(3.0), 0.0]], tf.float32)
    assert float(lb.visual_quality_generator_loss(quarter)) == pytest.approx(-np.log(0.25), rel=1e-6)
    assert float(lb.visual_quality_discriminator_loss(three_quarters, quarter)) == pytest.approx(
        -np.log(0.75) - np.log(0.75), rel=1e-6)
    terms = dict(zero_one_map=1.0, magnitude=1.0, repetitive=1.0, depth_quality=1.0, visual_quality=1.0)
    assert lb.despoof_total_loss(terms, lb.DeSpoofWeights()) == pytest.approx(1 + 3 + 0.005 + 0.1 + 0.016)


def test_score_components_and_the_fitted_weight():
    from physstd.eval import metrics, scoring
    from physstd.methods.despoof import losses as lb

    noise = np.zeros((2, 4, 4, 6), np.float32)
    noise[1, :2, :, 0] = -0.5  # 8 of 16 pixels at |0.5| in one channel: 4 / 16
    np.testing.assert_allclose(lb.noise_magnitude(noise).numpy(), [0.0, 0.25])
    # Live: little noise, deep reconstruction; spoof: large noise, flat. The depth alone misorders one pair,
    # the fitted weight of the noise term separates them (higher = attack).
    labels = np.array([0, 0, 0, 1, 1, 1])
    magnitude = np.array([0.01, 0.02, 0.03, 0.20, 0.25, 0.30])
    depth = np.array([0.6, 0.5, 0.3, 0.4, 0.2, 0.1])
    weight, threshold = scoring.calibrate(labels, magnitude, depth)
    assert weight > 0
    assert metrics.auc(labels, scoring.weighted_difference(magnitude, depth, weight)) == 1.0
    assert metrics.auc(labels, -depth) < 1.0


# --- the trainer ------------------------------------------------------------------------------------------
def _configs(**train):
    from physstd.models import ModelConfig
    from physstd.train.config import TrainConfig

    return ModelConfig(N, WIDTH), TrainConfig(learning_rate=1e-3, batch_size=2 * PAIRS, **train)


def _values(network):
    return [v.numpy().copy() for v in network.variables]


@pytest.fixture(scope="module")
def trained():
    """A DeSpoofTrainer with a fresh (untrained) DQ-Net, the toy batch, DQ's weights before, 5 steps' losses."""
    import keras

    from physstd.methods.auxiliary.network import AuxiliaryNet
    from physstd.methods.despoof.trainer import DeSpoofTrainer
    from physstd.data.toy import random_batch

    keras.utils.set_random_seed(0)
    model_config, config = _configs()
    trainer = DeSpoofTrainer(model_config, config, dq_net=AuxiliaryNet(model_config))
    batch = random_batch(N, PAIRS, seed=1)
    dq_before, ds_before = _values(trainer.dq_net), _values(trainer.ds_net)
    history = [{k: float(v) for k, v in trainer.train_step(batch).items()} for _ in range(5)]
    return trainer, batch, dq_before, ds_before, history


def test_five_toy_steps_lower_the_total_loss_and_leave_dq_net_frozen(trained):
    trainer, _, dq_before, ds_before, history = trained
    assert int(trainer.step.numpy()) == 5 and trainer.variables_finite()
    assert set(history[0]) == {"zero_one_map", "magnitude", "repetitive", "depth_quality", "visual_quality",
                               "total", "vq"}
    assert history[-1]["total"] < 0.8 * history[0]["total"], history
    for h in history:  # Eq. 7 from the reported terms
        assert h["total"] == pytest.approx(h["zero_one_map"] + 3 * h["magnitude"] + 0.005 * h["repetitive"]
                                           + 0.1 * h["depth_quality"] + 0.016 * h["visual_quality"], rel=1e-5)
    for before, after in zip(dq_before, _values(trainer.dq_net)):  # weights and BN statistics
        np.testing.assert_array_equal(before, after)
    assert any(not np.array_equal(b, a) for b, a in zip(ds_before, _values(trainer.ds_net)))


def test_predict_gives_the_noise_as_an_additive_trace(trained):
    import tensorflow as tf

    from physstd.methods.despoof import losses as lb

    trainer, batch, *_ = trained
    images = batch["spoof"]["image"]
    out = trainer.predict(images)
    assert out["noise"].shape == (PAIRS, N, N, 6) and out["M"].shape == (PAIRS, N // 8, N // 8, 1)
    # I = I_hat + T_A (the sign of PhySTD's additive trace): the reconstruction plus the trace is the input.
    np.testing.assert_allclose((out["reconstruction"] + out["trace"]).numpy(), images.numpy(), atol=1e-6)
    np.testing.assert_allclose(out["noise_magnitude"].numpy(), lb.noise_magnitude(out["noise"]).numpy())
    np.testing.assert_allclose(out["depth_mean"].numpy(), tf.reduce_mean(out["M"], axis=(1, 2, 3)).numpy())
    visuals = trainer.visuals(batch)
    assert visuals["trace"].shape == (2 * PAIRS, N, N, 3)
    assert visuals["depth_target"].shape == (2 * PAIRS, N // 8, N // 8, 1)
    assert set(trainer.checkpoint_objects()) == {"ds_net", "vq_net", "dq_net", "step", "ds_optimizer",
                                                 "vq_optimizer"}


def test_without_a_dq_net_the_trainer_refuses():
    from physstd.methods.despoof.trainer import DeSpoofTrainer

    model_config, config = _configs()
    with pytest.raises(ValueError, match="--dq_run"):
        DeSpoofTrainer(model_config, config)


def test_dq_net_from_an_auxiliary_run_directory_and_joint_training(tmp_path):
    import keras
    import tensorflow as tf

    from physstd.methods.auxiliary.trainer import AuxiliaryTrainer
    from physstd.methods.despoof.trainer import DeSpoofTrainer
    from physstd.data.toy import random_batch

    keras.utils.set_random_seed(1)
    model_config, config = _configs()
    run_dir = tmp_path / "auxiliary_run"
    auxiliary = AuxiliaryTrainer(model_config, config)
    for variable in auxiliary.network.variables:  # away from the initial values (BN statistics included)
        variable.assign(variable + tf.random.uniform(variable.shape, 0.1, 0.2))
    manager = tf.train.CheckpointManager(tf.train.Checkpoint(**auxiliary.checkpoint_objects()),
                                         str(run_dir / "checkpoints"), max_to_keep=2)
    manager.save(checkpoint_number=1)
    (run_dir / "flags.json").write_text(json.dumps({"train": config.to_dict(), "model": model_config.to_dict()}))

    trainer = DeSpoofTrainer(model_config, config, dq_net=os.fspath(run_dir), train_dq=True)
    loaded = _values(trainer.dq_net)
    for saved, restored in zip(_values(auxiliary.network), loaded):
        np.testing.assert_array_equal(saved, restored)
    # One per-replica step, run eagerly (tracing a second train_step would double this file's time).
    losses = trainer.strategy.run(trainer._train_step, args=(random_batch(N, PAIRS, seed=2),))
    assert "dq_depth" in losses and "dq_optimizer" in trainer.checkpoint_objects()
    assert any(not np.array_equal(b, a) for b, a in zip(loaded, _values(trainer.dq_net)))

    from physstd.models import ModelConfig

    other = ModelConfig(2 * N, WIDTH)
    with pytest.raises(ValueError, match="image size"):
        DeSpoofTrainer(other, config, dq_net=os.fspath(run_dir))
    with pytest.raises(ValueError, match="no checkpoint"):
        (tmp_path / "empty").mkdir()
        (tmp_path / "empty" / "flags.json").write_text((run_dir / "flags.json").read_text())
        DeSpoofTrainer(model_config, config, dq_net=os.fspath(tmp_path / "empty"))
