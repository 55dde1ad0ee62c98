"""Train-step variants: the Tab. 3 ablations, mixed precision, XLA, and tf.distribute strategies (CPU)."""
import numpy as np
import pytest

from physstd.methods.physstd.config import PhySTDConfig
from physstd.train.config import TrainConfig

N = 32
WIDTH = 0.125
PAIRS = 2


def _trainer(steps="12", trace_form="physstd", strategy=None, **overrides):
    import keras

    from physstd.methods.physstd.trainer import PhySTDTrainer
    from physstd.models import ModelConfig

    keras.utils.set_random_seed(0)
    own = {name: overrides.pop(name) for name in list(overrides) if name in PhySTDConfig.__dataclass_fields__}
    config = TrainConfig(**dict(dict(learning_rate=1e-3, batch_size=2 * PAIRS), **overrides),
                         method_config=PhySTDConfig(steps=steps, **own))
    return PhySTDTrainer(ModelConfig(image_size=N, width=WIDTH, trace_form=trace_form), config, strategy=strategy)


def _snapshot(trainer):
    return ([v.numpy().copy() for v in trainer.generator.trainable_variables],
            [v.numpy().copy() for v in trainer.discriminator_variables])


@pytest.fixture(scope="module")
def batch():
    from physstd.data.toy import random_batch

    return random_batch(N, PAIRS, seed=5)


@pytest.fixture(scope="module")
def float32_reference(batch):
    """Losses and weights after one float32, non-XLA, default-strategy step of Step1+Step2."""
    trainer = _trainer()
    losses = {k: float(v) for k, v in trainer.train_step(batch).items()}
    return losses, _snapshot(trainer)


@pytest.fixture(scope="module")
def step1_run(batch):
    """A Step1-only trainer (the ablation of Tab. 3) before and after one step."""
    trainer = _trainer(steps="1")
    before = _snapshot(trainer)
    losses = {k: float(v) for k, v in trainer.train_step(batch).items()}
    return trainer, before, losses, _snapshot(trainer)


@pytest.mark.slow
def test_step1_only_trains_depth_and_leaves_the_discriminators(step1_run):
    _, before, losses, after = step1_run
    assert set(losses) == {"depth", "trace_regularizer", "inpainting_mask", "generator_total"}
    for a, b in zip(before[1], after[1]):
        np.testing.assert_array_equal(a, b)
    assert any(not np.array_equal(a, b) for a, b in zip(before[0], after[0]))


@pytest.mark.slow
def test_step12_with_a_single_trace(batch):
    # Tab. 3 "Step1+Step2 w/ single trace": no inpainting, so no L_P; no step 3, so no L_S / L_H.
    trainer = _trainer(steps="12", trace_form="single")
    before = _snapshot(trainer)
    losses = {k: float(v) for k, v in trainer.train_step(batch).items()}
    assert set(losses) == {"depth", "trace_regularizer", "adversarial", "discriminator", "generator_total"}
    after = _snapshot(trainer)
    assert any(not np.array_equal(a, b) for a, b in zip(before[1], after[1]))
    assert all(np.isfinite(v) for v in losses.values())


@pytest.mark.slow
def test_mixed_precision_step_matches_float32_closely(batch, float32_reference):
    import keras

    trainer = _trainer(mixed_precision=True)
    assert keras.mixed_precision.global_policy().name == "float32"  # restored after the build
    assert trainer.generator.stem.conv.compute_dtype == "float16"
    assert all(v.dtype == "float32" for v in trainer.generator.trainable_variables)
    assert isinstance(trainer.generator_optimizer, keras.optimizers.LossScaleOptimizer)
    assert isinstance(trainer.discriminator_optimizer, keras.optimizers.LossScaleOptimizer)
    out = trainer.predict(batch["live"]["image"])
    assert all(t.dtype == "float32" for t in out)
    losses = {k: float(v) for k, v in trainer.train_step(batch).items()}
    reference, _ = float32_reference
    for name in ("depth", "adversarial", "discriminator", "inpainting_mask"):
        assert losses[name] == pytest.approx(reference[name], rel=2e-2), name


@pytest.mark.slow
def test_xla_step_matches_the_plain_step(batch, step1_run):
    # XLA on the Step1 ablation keeps this test short on CPU (the full step compiles for ~25 s here; it runs
    # under XLA in benchmarks/train_step.py).
    trainer = _trainer(steps="1", jit_compile=True)
    losses = {k: float(v) for k, v in trainer.train_step(batch).items()}
    _, _, reference, (generator, _) = step1_run
    for name, value in reference.items():
        assert losses[name] == pytest.approx(value, rel=1e-3, abs=1e-6), name
    for a, b in zip(generator, _snapshot(trainer)[0]):
        np.testing.assert_allclose(a, b, rtol=1e-3, atol=1e-5)


@pytest.mark.slow
def test_one_device_mirrored_strategy_matches_the_default_strategy(batch, float32_reference):
    import tensorflow as tf

    strategy = tf.distribute.MirroredStrategy(["/cpu:0"])
    trainer = _trainer(strategy=strategy)
    distributed = next(iter(strategy.experimental_distribute_dataset(tf.data.Dataset.from_tensors(batch))))
    losses = {k: float(v) for k, v in trainer.train_step(distributed).items()}
    assert int(trainer.step.numpy()) == 1
    reference, (generator, discriminator) = float32_reference
    for name, value in reference.items():
        assert losses[name] == pytest.approx(value, rel=1e-5, abs=1e-7), name
    after = _snapshot(trainer)
    for a, b in zip(generator + discriminator, after[0] + after[1]):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-7)


def test_default_strategy_is_used_without_gpus():
    import tensorflow as tf

    from physstd.train.loop import make_strategy

    assert make_strategy("auto") is tf.distribute.get_strategy()
    assert make_strategy("default") is tf.distribute.get_strategy()
    assert isinstance(make_strategy("mirrored"), tf.distribute.MirroredStrategy)


@pytest.mark.slow
def test_hard_synthesis_weight_scales_the_transplanted_half_of_l_s(batch):
    # L_S(w) = (L_live + w L_hard) / 2 from the same weights and harder sample: affine in w, and w = 1 (the
    # paper's one loss over the balanced batch, computed on the whole batch) lies on the same line.
    synthesis = {}
    for weight in (0.0, 0.5, 1.0):
        trainer = _trainer(steps="123", hard_synthesis_weight=weight)
        synthesis[weight] = float(trainer.train_step(batch)["synthesis"])
    assert synthesis[1.0] > synthesis[0.0] > 0
    assert synthesis[0.5] == pytest.approx((synthesis[0.0] + synthesis[1.0]) / 2, rel=1e-5)


def test_resize_upsampling_decoder_has_no_transposed_convolution():
    import keras
    import tensorflow as tf

    from physstd.methods.physstd.generator import Generator
    from physstd.models import ModelConfig

    for mode, transposed in (("transpose", True), ("resize", False)):
        generator = Generator(ModelConfig(image_size=N, width=WIDTH, upsample=mode))
        out = generator(tf.zeros((2, N, N, 3)))
        assert out.B.shape == (2, N, N, 3) and out.M.shape == (2, N // 8, N // 8, 1)
        kinds = {type(block.conv) for block in generator.upsample}
        assert kinds == {keras.layers.Conv2DTranspose if transposed else keras.layers.Conv2D}
