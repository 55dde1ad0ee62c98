import json

import keras
import numpy as np
import pytest
import tensorflow as tf

from physstd import ops
from physstd.methods.physstd.discriminator import Discriminator, build_discriminators, resize_for_discriminator
from physstd.methods.physstd.generator import Generator, input_decomposition
from physstd.models import GeneratorOutput, ModelConfig, TRACE_COMPONENTS, TRACE_FORMS

N = 32
WIDTH = 0.25


def _images(batch=2, size=N, seed=0):
    return tf.constant(np.random.default_rng(seed).uniform(0, 1, (batch, size, size, 3)), tf.float32)


def test_config_sizes_bands_and_channels():
    config = ModelConfig(image_size=256)
    assert config.trace_bands == (32, 128)
    assert config.sizes.depth_size == 32
    assert ModelConfig(image_size=256, trace_form="stdn").trace_bands == (1, 64)  # ECCV20: n1 = 1, n2 = 64
    assert ModelConfig(width=0.5).channels(96) == 48
    assert ModelConfig(width=0.01).channels(96) == 8
    assert ModelConfig(width=0.5).discriminator_channels(96) == 48  # None: the generator's width
    assert ModelConfig(width=0.25, discriminator_width=1.0).discriminator_channels(96) == 96
    assert ModelConfig().has_inpainting and not ModelConfig(trace_form="stdn").has_inpainting


@pytest.mark.parametrize("values", [
    {"image_size": 30}, {"image_size": 8}, {"width": 0}, {"width": float("nan")}, {"trace_form": "additive"},
    {"image_size": 64.0}, {"discriminator_width": 0}, {"discriminator_width": -1.0}, {"discriminator_width": True},
    {"lowpass": "gaussian"}, {"upsample": "bicubic"},
])
def test_config_rejects_bad_values(values):
    with pytest.raises(ValueError):
        ModelConfig(**values)


def test_config_dict_round_trip():
    config = ModelConfig(image_size=64, width=0.5, trace_form="multiplicative")
    record = json.loads(json.dumps(config.to_dict()))
    assert record == {"image_size": 64, "width": 0.5, "trace_form": "multiplicative", "discriminator_width": None,
                      "lowpass": "box", "upsample": "transpose"}
    assert ModelConfig.from_dict(record) == config
    # Runs saved before the averaging low-pass existed were trained with the point sampler and load with it.
    assert ModelConfig.from_dict({"image_size": 64, "width": 0.5, "trace_form": "physstd"}).lowpass == "point"
    assert ModelConfig.from_dict(dict(record, lowpass="point")).lowpass == "point"
    # Runs saved before discriminator_width existed load with the discriminators at the generator's width.
    assert ModelConfig.from_dict({"image_size": 64, "width": 0.5, "trace_form": "physstd"}).discriminator_width is None
    wide = ModelConfig(image_size=64, width=0.25, discriminator_width=1.0)
    assert ModelConfig.from_dict(json.loads(json.dumps(wide.to_dict()))) == wide
    with pytest.raises(ValueError, match="run/flags.json: model: unknown key 'depth'"):
        ModelConfig.from_dict({"image_size": 64, "depth": 3}, "run/flags.json: model")
    with pytest.raises(ValueError, match="expected a JSON object of ModelConfig fields; found list"):
        ModelConfig.from_dict([64])
    with pytest.raises(ValueError, match="run/flags.json: model: ModelConfig.width must be a positive number"):
        ModelConfig.from_dict({"width": -1}, "run/flags.json: model")


def test_input_decomposition_is_eq9():
    sizes = ModelConfig(image_size=N).sizes
    image = _images()
    stacked = input_decomposition(image, sizes).numpy()
    assert stacked.shape == (2, N, N, 9)
    low, mid, high = stacked[..., :3], stacked[..., 3:6] / 15.0, stacked[..., 6:] / 25.0
    np.testing.assert_allclose(low, ops.lowpass(image, sizes.n1).numpy(), atol=1e-6)
    np.testing.assert_allclose(low + mid, ops.lowpass(image, sizes.n2).numpy(), atol=1e-5)
    np.testing.assert_allclose(low + mid + high, image.numpy(), atol=1e-5)  # the three bands sum to I
    flat = input_decomposition(tf.fill((1, N, N, 3), 0.3), sizes).numpy()
    np.testing.assert_allclose(flat[..., :3], 0.3, atol=1e-6)
    np.testing.assert_allclose(flat[..., 3:], 0.0, atol=1e-5)


@pytest.mark.parametrize("form", TRACE_FORMS)
def test_generator_outputs_shapes_ranges_and_zero_components(form):
    keras.utils.set_random_seed(1)
    config = ModelConfig(image_size=N, width=WIDTH, trace_form=form)
    out = Generator(config)(_images(), training=True)
    assert isinstance(out, GeneratorOutput)
    k = config.sizes.depth_size
    shapes = {"B": 3, "C": 3, "T": 3, "P": 1, "I_P": 3, "S": 3}
    for name, channels in shapes.items():
        value = getattr(out, name).numpy()
        assert value.shape == (2, N, N, channels) and value.dtype == np.float32, name
        if name in TRACE_COMPONENTS[form]:
            assert np.abs(value).max() > 0, name
            low, high = (0.0, 1.0) if name in ("P", "I_P") else (-1.0, 1.0)
            assert low <= value.min() and value.max() <= high, name
        else:
            assert not value.any(), name
    assert out.M.shape == (2, k, k, 1) and out.M.dtype == tf.float32
    assert 0.0 <= out.M.numpy().min() and out.M.numpy().max() <= 1.0


def _conv_bn(k, cin, cout):
    return k * k * cin * cout + 4 * cout  # bias-free conv + BatchNorm (gamma, beta, moving mean, moving var)


def test_generator_parameter_counts_follow_the_layer_plan():
    width = 0.5
    config = ModelConfig(image_size=N, width=width)
    generator = Generator(config)
    generator(_images(1))
    c = config.channels
    stem, (f1, f2, f3), dec, head, (d1, d2) = c(64), (c(64), c(96), c(128)), c(64), c(32), (c(64), c(32))
    encoder = _conv_bn(3, 9, stem)
    previous = stem
    for channels in (f1, f2, f3):
        encoder += _conv_bn(3, previous, channels) + 2 * _conv_bn(3, channels, channels)
        previous = channels
    decoder = (_conv_bn(3, f3, dec) + _conv_bn(3, dec + f2, dec) + _conv_bn(3, dec + f1, dec)
               + _conv_bn(3, dec, head) + 9 * head * 13 + 13)
    attention = 4 * (7 * 7 * 2 + 1)
    depth = attention + _conv_bn(3, f1 + f2 + f3 + dec, d1) + _conv_bn(3, d1, d2) + 9 * d2 + 1
    assert generator.parameter_breakdown() == {"encoder": encoder, "trace_decoder": decoder,
                                               "depth_network": depth}
    assert generator.count_params() == encoder + decoder + depth


def test_generator_weights_start_from_normal_0_02():
    generator = Generator(ModelConfig(image_size=N, width=0.5))
    generator(_images(1))
    kernel = generator.encoder_stages[2][1].conv.kernel.numpy()  # 3 x 3 x 64 x 64
    assert abs(kernel.mean()) < 0.002 and kernel.std() == pytest.approx(0.02, rel=0.05)


def test_generator_rejects_wrong_image_size():
    with pytest.raises(ValueError, match="expects images"):
        Generator(ModelConfig(image_size=N, width=WIDTH))(_images(size=40))


def test_generator_graph_and_xla_match_eager():
    keras.utils.set_random_seed(2)
    generator = Generator(ModelConfig(image_size=N, width=WIDTH))
    image = _images(seed=3)
    eager = generator(image, training=False)
    graph = tf.function(lambda x: generator(x, training=False))(image)
    compiled = tf.function(lambda x: generator(x, training=False), jit_compile=True)(image)
    assert isinstance(graph, GeneratorOutput) and isinstance(compiled, GeneratorOutput)
    for a, b, c in zip(eager, graph, compiled):
        np.testing.assert_allclose(b.numpy(), a.numpy(), atol=1e-5)
        np.testing.assert_allclose(c.numpy(), a.numpy(), atol=1e-4)


def test_get_config_rebuilds_the_same_network(tmp_path):
    keras.utils.set_random_seed(4)
    config = ModelConfig(image_size=N, width=WIDTH, trace_form="stdn")
    generator = Generator(config, name="g")
    image = _images(seed=5)
    expected = generator(image)
    clone = Generator.from_config(generator.get_config())
    clone(image)
    clone.set_weights(generator.get_weights())
    assert clone.model_config == config and clone.name == "g"
    for a, b in zip(expected, clone(image)):
        np.testing.assert_allclose(b.numpy(), a.numpy(), atol=1e-6)
    discriminator = Discriminator(config, 12, name="d2")
    copy = Discriminator.from_config(discriminator.get_config())
    assert (copy.input_size, copy.name, copy.model_config) == (12, "d2", config)
    # The registered classes also survive a .keras file.
    generator.save(str(tmp_path / "generator.keras"))
    loaded = keras.models.load_model(str(tmp_path / "generator.keras"))
    assert isinstance(loaded, Generator) and loaded.model_config == config
    for a, b in zip(expected, loaded(image)):
        np.testing.assert_allclose(b.numpy(), a.numpy(), atol=1e-6)


@pytest.mark.parametrize("in_size,out_size", [(32, 4), (32, 12), (256, 96), (12, 32), (20, 7)])
def test_discriminator_resize_is_tf_antialiased_bilinear(in_size, out_size):
    image = _images(1, in_size, seed=in_size + out_size)
    expected = tf.image.resize(image, (out_size, out_size), method="bilinear", antialias=True)
    np.testing.assert_allclose(resize_for_discriminator(image, out_size).numpy(), expected.numpy(), atol=1e-5)


def test_discriminators_sizes_ranges_and_internal_resize():
    keras.utils.set_random_seed(6)
    config = ModelConfig(image_size=N, width=WIDTH)
    discriminators = build_discriminators(config)
    assert [d.input_size for d in discriminators] == [4, 12, 32, 32]
    assert [d.name for d in discriminators] == ["d1", "d2", "d3", "d4"]
    image = _images(seed=7)
    for discriminator in discriminators:
        score = discriminator(image, training=False).numpy()
        side = -(-discriminator.input_size // 8)
        assert score.shape == (2, side, side, 1) and score.dtype == np.float32
        assert 0.0 < score.min() and score.max() < 1.0
        # Resizing inside equals resizing before the call.
        resized = resize_for_discriminator(image, discriminator.input_size)
        np.testing.assert_allclose(discriminator(resized).numpy(), score, atol=1e-6)
    d2 = discriminators[1]
    compiled = tf.function(lambda x: d2(x, training=False), jit_compile=True)(image)
    np.testing.assert_allclose(compiled.numpy(), d2(image).numpy(), atol=1e-5)
    small = tf.image.resize(image, (12, 12), antialias=True)
    np.testing.assert_allclose(d2(small).numpy(), d2(image).numpy(), atol=1e-6)
    # Separate weights.
    assert not np.allclose(discriminators[2].get_weights()[0], discriminators[3].get_weights()[0])


@pytest.mark.parametrize("discriminator_width", [None, 1.0])
def test_discriminator_parameter_count_follows_its_own_width(discriminator_width):
    config = ModelConfig(image_size=N, width=0.25, discriminator_width=discriminator_width)
    discriminator = Discriminator(config, N)
    discriminator(_images(1))
    width = discriminator_width or 0.25
    channels = [max(8, round(base * width)) for base in (32, 64, 96, 96)]
    expected, previous = 0, 3
    for c in channels:
        expected += _conv_bn(3, previous, c)
        previous = c
    expected += 9 * previous + 1   # output conv k3c1 with a bias
    assert discriminator.count_params() == expected


def test_mixed_float16_policy_keeps_outputs_float32():
    previous = keras.config.dtype_policy()
    keras.mixed_precision.set_global_policy("mixed_float16")
    try:
        config = ModelConfig(image_size=N, width=WIDTH)
        generator = Generator(config)
        discriminator = Discriminator(config, 12)
        image = _images()
        out = generator(image, training=True)
        score = discriminator(image, training=True)
    finally:
        keras.mixed_precision.set_global_policy(previous)
    assert generator.stem.conv.compute_dtype == "float16"
    assert all(v.dtype == "float32" for v in generator.weights)
    for value in list(out) + [score]:
        assert value.dtype == tf.float32
        assert np.isfinite(value.numpy()).all()
    assert 0.0 <= out.P.numpy().min() and out.P.numpy().max() <= 1.0
