"""PhySTDTrainer: the Alg. 1 step (update isolation, loss decrease), the learning-rate schedule, TrainConfig."""
import dataclasses

import numpy as np
import pytest

from physstd.data.protocols import CEFA_FOLDS, WMCA_LOO_CATEGORIES
from physstd.methods.physstd.config import PhySTDConfig
from physstd.train.config import TrainConfig

N = 64
WIDTH = 0.125
PAIRS = 2


def test_learning_rate_schedule_is_the_papers_staircase():
    from physstd.train.trainer import learning_rate_at

    # Sec. 4.1: 5e-5, x0.1 every 45k steps.
    expected = {0: 5e-5, 44_999: 5e-5, 45_000: 5e-6, 89_999: 5e-6, 90_000: 5e-7, 149_999: 5e-8}
    for step, value in expected.items():
        assert learning_rate_at(step, 5e-5, 45_000, 0.1) == pytest.approx(value, rel=1e-12)


def test_train_config_defaults_are_the_papers_and_bad_values_raise():
    c = TrainConfig()
    assert (c.learning_rate, c.batch_size, c.num_steps, c.lr_decay_every, c.lr_decay_factor) == \
        (5e-5, 8, 150_000, 45_000, 0.1)
    assert c.pairs_per_batch == 4 and c.discriminator_lr_ratio == 0.5
    assert c.method_config == PhySTDConfig() and c.method_config.steps == "123"
    w = c.method_config.loss_weights
    assert (w.depth, w.adversarial, w.inpainting_mask, w.trace_regularizer, w.synthesis, w.hard_depth) == \
        (100.0, 5.0, 1.0, 1e-4, 10.0, 1.0)
    assert TrainConfig.from_dict(c.to_dict()) == c
    with pytest.raises(ValueError, match="flags.json: unknown key 'unknown_future_key'"):
        TrainConfig.from_dict(dict(c.to_dict(), unknown_future_key=1), "flags.json")
    for bad in (dict(batch_size=7), dict(keep_checkpoints=1), dict(strategy="tpu"), dict(method_config=object())):
        with pytest.raises(ValueError):
            TrainConfig(**bad)
    with pytest.raises(ValueError, match="steps must be one of"):
        PhySTDConfig(steps="13")


def _make_trainer(**overrides):
    import keras

    from physstd.methods.physstd.trainer import PhySTDTrainer
    from physstd.models import ModelConfig

    keras.utils.set_random_seed(0)
    own = {name: overrides.pop(name) for name in list(overrides) if name in PhySTDConfig.__dataclass_fields__}
    config = TrainConfig(**dict(dict(learning_rate=1e-3, batch_size=2 * PAIRS), **overrides),
                         method_config=PhySTDConfig(**own))
    return PhySTDTrainer(ModelConfig(image_size=N, width=WIDTH), config)


def _values(variables):
    return [np.array(v.numpy() if hasattr(v, "numpy") else v) for v in variables]


@pytest.fixture(scope="module")
def one_step():
    """Two trainers with the same initial weights, one with the discriminators frozen (lr ratio 0), after one
    step on the same batch; plus their variables before and after."""
    from physstd.data.toy import random_batch

    batch = random_batch(N, PAIRS, seed=3)
    runs = {}
    for name, ratio in (("full", 0.5), ("frozen_d", 0.0)):
        trainer = _make_trainer(discriminator_lr_ratio=ratio)
        before = (_values(trainer.generator.trainable_variables), _values(trainer.discriminator_variables))
        losses = {k: float(v) for k, v in trainer.train_step(batch).items()}
        after = (_values(trainer.generator.trainable_variables), _values(trainer.discriminator_variables))
        runs[name] = dict(trainer=trainer, before=before, after=after, losses=losses)
    return batch, runs


@pytest.mark.slow
def test_each_update_changes_only_its_own_network(one_step):
    _, runs = one_step
    full, frozen = runs["full"], runs["frozen_d"]
    # Same start.
    for a, b in zip(full["before"][0] + full["before"][1], frozen["before"][0] + frozen["before"][1]):
        np.testing.assert_array_equal(a, b)
    # With the discriminator learning rate at 0 the two generator updates leave every D weight untouched...
    for a, b in zip(frozen["before"][1], frozen["after"][1]):
        np.testing.assert_array_equal(a, b)
    # ... while the full run moves them, and moves every generator layer.
    assert any(not np.array_equal(a, b) for a, b in zip(full["before"][1], full["after"][1]))
    moved = [not np.allclose(a, b, atol=0, rtol=0) for a, b in zip(full["before"][0], full["after"][0])]
    assert np.mean(moved) > 0.9
    # The discriminator update does not reach the generator: G ends the same whether D learned or not.
    for a, b in zip(full["after"][0], frozen["after"][0]):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-7)
    assert full["losses"]["generator_total"] == pytest.approx(frozen["losses"]["generator_total"], rel=1e-5)


@pytest.mark.slow
def test_step_reports_the_losses_of_alg1_and_counts_steps(one_step):
    _, runs = one_step
    trainer, losses = runs["full"]["trainer"], runs["full"]["losses"]
    assert set(losses) == {"depth", "adversarial", "inpainting_mask", "trace_regularizer", "generator_total",
                           "discriminator", "synthesis", "hard_depth"}
    w = trainer.loss_weights
    # Alg. 1 line 13: one generator objective, Eq. 23 + Eq. 24.
    assert losses["generator_total"] == pytest.approx(
        w.depth * losses["depth"] + w.adversarial * losses["adversarial"]
        + w.inpainting_mask * losses["inpainting_mask"] + w.trace_regularizer * losses["trace_regularizer"]
        + w.synthesis * losses["synthesis"] + w.hard_depth * losses["hard_depth"], rel=1e-5)
    # LSGAN at the start: D outputs ~0.5, so each of the 4 fake terms of L_G is ~(0.5 - 1)^2.
    assert 4 * 0.1 < losses["adversarial"] < 4 * 0.5
    assert int(trainer.step.numpy()) >= 1
    assert all(np.isfinite(v) for v in losses.values())


@pytest.mark.slow
def test_one_generator_update_per_iteration_and_the_two_update_schedule():
    from physstd.data.toy import random_batch

    batch = random_batch(N, PAIRS, seed=3)
    for updates in (1, 2):
        trainer = _make_trainer(generator_updates=updates)
        losses = {k: float(v) for k, v in trainer.train_step(batch).items()}
        # Adam counts its own applications: one per iteration by default, two with --generator_updates=2.
        assert int(trainer.generator_optimizer.iterations.numpy()) == updates
        assert int(trainer.discriminator_optimizer.iterations.numpy()) == 1
        w = trainer.loss_weights
        if updates == 2:
            assert losses["synthesis_total"] == pytest.approx(
                w.synthesis * losses["synthesis"] + w.hard_depth * losses["hard_depth"], rel=1e-5)
            assert losses["generator_total"] == pytest.approx(  # Eq. 23 alone in the first update
                w.depth * losses["depth"] + w.adversarial * losses["adversarial"]
                + w.inpainting_mask * losses["inpainting_mask"] + w.trace_regularizer * losses["trace_regularizer"],
                rel=1e-5)
        else:
            assert "synthesis_total" not in losses


@pytest.mark.slow
def test_live_trace_weight_regularizes_the_live_half_on_its_own():
    """--live_trace_weight=10 (the released code): L_R of the live half weighted 10, a4 on the spoof half only."""
    import tensorflow as tf

    from physstd.methods.physstd.losses import trace_regularizer_loss
    from physstd.data.toy import random_batch

    batch = random_batch(N, PAIRS, seed=3)
    trainer = _make_trainer(live_trace_weight=10.0, steps="1")
    out = trainer.generator(tf.concat([batch["live"]["image"], batch["spoof"]["image"]], 0), training=True)
    halves = [type(out)(*(tf.split(x, 2, axis=0)[i] for x in out)) for i in (0, 1)]
    losses = {k: float(v) for k, v in trainer.train_step(batch).items()}
    w = trainer.loss_weights
    assert w.live_trace_regularizer == 10.0
    # Same weights, same batch, BatchNorm in training mode: the step's terms equal the ones computed here.
    assert losses["live_trace_regularizer"] == pytest.approx(float(trace_regularizer_loss(halves[0])), rel=1e-4)
    assert losses["trace_regularizer"] == pytest.approx(float(trace_regularizer_loss(halves[1])), rel=1e-4)
    assert losses["generator_total"] == pytest.approx(
        w.depth * losses["depth"] + w.inpainting_mask * losses["inpainting_mask"]
        + w.trace_regularizer * losses["trace_regularizer"] + 10.0 * losses["live_trace_regularizer"], rel=1e-5)


@pytest.mark.slow
def test_learning_rates_follow_the_trainer_step(one_step):
    _, runs = one_step
    trainer = runs["full"]["trainer"]
    saved = int(trainer.step.numpy())
    try:
        for step, factor in ((0, 1.0), (trainer.config.lr_decay_every, 0.1), (2 * trainer.config.lr_decay_every, 0.01)):
            trainer.step.assign(step)
            base = trainer.config.learning_rate * factor
            assert float(trainer.generator_optimizer.learning_rate) == pytest.approx(base, rel=1e-6)
            assert float(trainer.discriminator_optimizer.learning_rate) == pytest.approx(base / 2, rel=1e-6)
    finally:
        trainer.step.assign(saved)


@pytest.mark.slow
def test_a_few_steps_on_a_fixed_batch_lower_the_losses(one_step):
    batch, runs = one_step
    trainer = runs["full"]["trainer"]
    first = runs["full"]["losses"]
    history = [first] + [{k: float(v) for k, v in trainer.train_step(batch).items()} for _ in range(7)]
    last = history[-1]
    assert last["depth"] < 0.9 * first["depth"]
    assert last["generator_total"] < 0.9 * first["generator_total"]
    assert last["hard_depth"] < 0.9 * first["hard_depth"]
    # L_S is drawn on new random harder samples every step: compare the first and last four steps.
    synthesis = [h["synthesis"] for h in history]
    assert np.mean(synthesis[4:]) < np.mean(synthesis[:4])


@pytest.mark.slow
def test_visuals_have_the_grid_panels(one_step):
    from physstd.methods.physstd import visuals as summaries

    batch, runs = one_step
    visuals = {k: v.numpy() for k, v in runs["full"]["trainer"].visuals(batch).items()}
    grid = summaries.image_grid(visuals)
    assert grid.shape == (1, 2 * PAIRS * N, len(summaries.GRID_COLUMNS) * N, 3)
    assert grid.min() >= 0.0 and grid.max() <= 1.0
    # Column 0 is the input, rows are live then spoof.
    np.testing.assert_allclose(grid[0, :N, :N], batch["live"]["image"].numpy()[0], atol=1e-6)
    np.testing.assert_allclose(grid[0, PAIRS * N:(PAIRS + 1) * N, :N], batch["spoof"]["image"].numpy()[0], atol=1e-6)
    # The synthesized-spoof panel of a spoof row is blank; of a live row it is an image.
    column = summaries.GRID_COLUMNS.index("synthesized spoof")
    assert np.all(grid[0, PAIRS * N:, column * N:(column + 1) * N] == 0)
    assert grid[0, :N, column * N:(column + 1) * N].std() > 0


def _parse(argv):
    from absl import flags as absl_flags

    from physstd.train import flags

    values = absl_flags.FlagValues()
    flags.define_flags(values)
    values(["run_train.py"] + argv)
    return flags.configs_from_flags(values)


def test_flags_map_onto_the_configs():
    train, model = _parse([])
    assert train == TrainConfig() and (model.image_size, model.width, model.trace_form) == (256, 1.0, "physstd")
    assert model.discriminator_width is None
    assert _parse(["--width=0.25", "--discriminator_width=1"])[1].discriminator_width == 1.0
    train, model = _parse(["--steps=12", "--a1=50", "--fold=half_mask", "--mixed_precision", "--image_size=64",
                           "--trace_form=single", "--batch_size=16", "--learning_rate=1e-4"])
    assert dataclasses.replace(TrainConfig(), method_config=PhySTDConfig(steps="12", a1=50.0), fold="half_mask",
                               mixed_precision=True, batch_size=16, learning_rate=1e-4) == train
    assert (model.image_size, model.trace_form) == (64, "single")
    assert _parse(["--single_trace"])[1].trace_form == "single"   # Tab. 3's flag name
    with pytest.raises(ValueError, match="single_trace"):
        _parse(["--single_trace", "--trace_form=stdn"])


def test_every_flagfile_parses_and_covers_the_papers_experiments():
    import glob
    import os

    from physstd.data.spoof_types import SIWM_TYPES

    root = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "flags")
    names = {os.path.basename(p)[:-len(".flags")]: p for p in glob.glob(os.path.join(root, "*.flags"))}
    expected = {"demo", "oulu_p1", "oulu_p2", "oulu_p3", "oulu_p4", "siw_p1", "siw_p2", "siw_p3", "siwm_p1"}
    expected |= {f"siwm_p{p}_{t}" for p in (2, 3) for t in SIWM_TYPES}
    # The baselines: Auxiliary on the tables that print it, De-Spoof on OULU-NPU with its DQ-Net's run.
    expected |= {"auxiliary_siwm_p1", "auxiliary_demo", "despoof_demo"} | {f"auxiliary_siwm_p2_{t}" for t in SIWM_TYPES}
    expected |= {f"{m}_oulu_p{k}" for m in ("auxiliary", "despoof") for k in range(1, 5)}
    # LGSC on the tables that print its published rows (OULU-NPU, SiW, CASIA <-> Replay) and its demo.
    expected |= {"lgsc_demo", "lgsc_casia_to_replay", "lgsc_replay_to_casia"} | {f"lgsc_oulu_p{k}" for k in range(1, 5)}
    expected |= {f"lgsc_siw_p{k}" for k in range(1, 4)} | {f"lgsc_siw_to_oulu_p{k}" for k in range(1, 5)}
    expected |= {f"lgsc_oulu_p1_{ablation}" for ablation in ("resized", "no_triplet", "triplet_on_cue", "no_classifier",
                                                             "regress_spoof", "classifier_on_cue")}
    # The multi-modal disentanglement network's demos: both streams, and the RGB stream alone.
    expected |= {"mmdn_demo", "mmdn_rgb_demo", "mmdn_wmca_grandtest"} | {f"mmdn_wmca_loo_{c}" for c in WMCA_LOO_CATEGORIES}
    expected |= {f"mmdn_cefa_{p}_{k}" for p, folds in CEFA_FOLDS.items() for k in range(1, folds + 1)}
    assert expected <= set(names)
    for name, path in names.items():
        train, model = _parse([f"--flagfile={path}"])
        method, _, experiment = name.partition("_") if name.split("_")[0] in ("auxiliary", "despoof", "lgsc", "mmdn") else \
            ("physstd", "", name)
        assert train.method == method, name
        if experiment.startswith("siwm_p2_") or experiment.startswith("siwm_p3_"):
            assert train.fold == experiment.split("_", 2)[2] and train.protocol == experiment[5:7]
        if method == "despoof":
            assert train.method_config.dq_run == f"runs/auxiliary_{experiment}", name
        if not experiment.endswith("demo"):  # the paper's settings (De-Spoof paper, Sec. 4.1, for both baselines; LGSC's own)
            settings = {"physstd": (256, 5e-5, 8, 150_000), "lgsc": (256, 1e-3, 32, 60_000),
                        "mmdn": (256, 5e-5, 4, 40_000)}.get(
                method, (256, 3e-5, 6, 150_000))
            if experiment == "oulu_p1_resized":   # LGSC Tab. 5: the whole face at 224
                settings = (224,) + settings[1:]
            assert (model.image_size, train.learning_rate, train.batch_size, train.num_steps) == settings, name
        else:   # the demos share flags/demo.flags' data, size and budget
            demo, demo_model = _parse([f"--flagfile={names['demo']}"])
            assert demo.synthetic and demo_model.image_size == 64 and demo.num_steps <= 5000
            assert (train.data_root, train.protocol, model, train.num_steps, train.batch_size, train.seed) == \
                (demo.data_root, demo.protocol, demo_model, demo.num_steps, demo.batch_size, demo.seed), name
        if method == "mmdn" and not experiment.endswith("demo"):   # WMCA / CeFA: the protocol and fold in the name
            dataset, _, rest = experiment.partition("_")
            protocol, _, fold = rest.partition("_")
            assert (train.split_dir, train.protocol, train.fold, train.frames_per_video) == \
                (f"datasets/{dataset}", protocol, fold, 5), name
        if method == "lgsc":   # 224 patches of faces prepared at 256 (the LGSC paper); the demo: whole faces
            own = train.method_config
            expected_patch = {"demo": (0, 0), "oulu_p1_resized": (0, 1000)}.get(experiment, (224, 1000))
            assert (own.patch_size, own.warmup_steps) == expected_patch, name
            ablation = {"oulu_p1_no_triplet": own.triplet_weight == 0, "oulu_p1_triplet_on_cue": own.triplet_on_cue,
                        "oulu_p1_no_classifier": own.classification_weight == 0,
                        "oulu_p1_regress_spoof": own.regress_spoof,
                        "oulu_p1_classifier_on_cue": own.classifier_input == "cue"}
            assert ablation.get(experiment, True), name
            if experiment.startswith("siw_to_oulu_p"):
                assert (train.split_dir, train.protocol) == ("datasets/cross_dataset", experiment), name
