"""train(): the run directory, summaries, dev AUC, resume, and the NaN guard, on a tiny prepared dataset."""
import json
import os

import numpy as np
import pytest

from physstd.train.config import TrainConfig
from run_events import read_events

# Every test here trains through the loop (a module run of 4 steps, resumes, a NaN run): slow.
pytestmark = pytest.mark.slow

N = 32


@pytest.fixture(scope="module")
def toy_root(tmp_path_factory):
    from physstd.data.toy import write_toy_dataset

    root = str(tmp_path_factory.mktemp("toy"))
    write_toy_dataset(root, N, videos_per_class=3, frames_per_video=2)
    return root


def _configs(root, run_dir, **overrides):
    from physstd.models import ModelConfig

    values = dict(data_root=root, protocol="toy", run_dir=run_dir, batch_size=4, learning_rate=1e-3,
                  num_steps=4, checkpoint_every=2, summary_every=1, image_summary_every=2, log_every=1)
    values.update(overrides)
    return TrainConfig(**values), ModelConfig(image_size=N, width=0.125)


@pytest.fixture(scope="module")
def first_run(toy_root, tmp_path_factory):
    from physstd.train.loop import train

    run_dir = str(tmp_path_factory.mktemp("run"))
    result = train(*_configs(toy_root, run_dir))
    return run_dir, result


def test_run_directory_layout(first_run):
    run_dir, result = first_run
    assert result["step"] == 4
    assert sorted(os.listdir(run_dir)) == ["checkpoints", "dev_eval.json", "flags.json", "tensorboard"]
    files = os.listdir(os.path.join(run_dir, "checkpoints"))
    assert {"checkpoint", "ckpt-2.index", "ckpt-4.index"} <= set(files)
    with open(os.path.join(run_dir, "flags.json")) as stream:
        flags = json.load(stream)
    assert flags["model"] == {"image_size": N, "width": 0.125, "trace_form": "physstd", "discriminator_width": None,
                              "lowpass": "box", "upsample": "transpose"}
    assert flags["train"] == TrainConfig.from_dict(flags["train"]).to_dict()
    assert flags["train"]["num_steps"] == 4 and flags["num_landmarks"] == 140


def test_summaries_hold_every_loss_the_learning_rates_and_the_image_grid(first_run):
    from physstd.methods.physstd import visuals as summaries

    run_dir, result = first_run
    tags = read_events(run_dir)
    for name, value in result["losses"].items():
        plugin, tensor = tags[f"loss/{name}"][4]
        assert plugin == "scalars" and float(tensor) == pytest.approx(value, rel=1e-6)
    assert set(tags["loss/depth"]) == {1, 2, 3, 4}
    assert float(tags["learning_rate/generator"][4][1]) == pytest.approx(1e-3)
    assert float(tags["learning_rate/discriminator"][4][1]) == pytest.approx(5e-4)
    plugin, image = tags["train/traces"][2]
    assert plugin == "images"
    width, height = int(image[0]), int(image[1])
    assert (width, height) == (N * len(summaries.GRID_COLUMNS), N * 4)
    assert "dev/auc_depth" in tags and "dev/auc_eq10" in tags


def test_dev_evaluation_is_written(first_run):
    run_dir, result = first_run
    with open(os.path.join(run_dir, "dev_eval.json")) as stream:
        history = json.load(stream)
    assert history[-1]["step"] == 4 and history[-1]["frames"] == 12 and history[-1]["subset"] == "dev"
    for name in ("depth", "trace", "eq10"):
        assert 0.0 <= history[-1][name] <= 1.0 and history[-1][name] == result["dev"][name]


def test_the_seed_fixes_the_initial_weights(toy_root, tmp_path):
    """Step 1's losses are those of the initial weights on the first batch: equal for equal seeds."""
    from physstd.train.loop import train

    def first_losses(name, seed):
        result = train(*_configs(toy_root, str(tmp_path / name), num_steps=1, checkpoint_every=1,
                                 image_summary_every=0, seed=seed))
        return result["losses"]
    first, again, other = first_losses("a", 3), first_losses("b", 3), first_losses("c", 4)
    for name in ("depth", "trace_regularizer", "adversarial"):
        assert again[name] == pytest.approx(first[name], rel=1e-5), name
    assert other["trace_regularizer"] != pytest.approx(first["trace_regularizer"], rel=1e-3)


def test_resume_continues_from_the_last_checkpoint(first_run, toy_root, capsys):
    from physstd.train.loop import train

    run_dir, _ = first_run
    result = train(*_configs(toy_root, run_dir, num_steps=6))
    printed = capsys.readouterr().out
    assert "resumed from" in printed and "ckpt-4 at step 4" in printed
    assert "step 5/6" in printed and "step 4/" not in printed
    assert result["step"] == 6
    assert "ckpt-6.index" in os.listdir(os.path.join(run_dir, "checkpoints"))
    with pytest.raises(ValueError, match="flags.json"):  # another architecture in the same run directory
        config, model = _configs(toy_root, run_dir, num_steps=8)
        train(config, type(model)(image_size=N, width=0.25))


def test_a_nan_loss_stops_training_names_step_and_loss_and_keeps_the_last_checkpoint(
        toy_root, tmp_path, monkeypatch):
    import tensorflow as tf

    from physstd.train.loop import NonFiniteLossError, train
    from physstd.methods.physstd import trainer as trainer_module

    run_dir = str(tmp_path)
    train(*_configs(toy_root, run_dir, num_steps=2, image_summary_every=0))
    checkpoint_files = sorted(os.listdir(os.path.join(run_dir, "checkpoints")))
    depth_loss, trainers = trainer_module.depth_loss, []

    def poisoned(depth, target):  # NaN from the 4th step on (the step counter reads 3 during it)
        return depth_loss(depth, target) + tf.where(trainers[-1].step >= 3, np.nan, 0.0)

    original_init = trainer_module.PhySTDTrainer.__init__

    def init(self, *args, **kwargs):
        original_init(self, *args, **kwargs)
        trainers.append(self)

    monkeypatch.setattr(trainer_module, "depth_loss", poisoned)
    monkeypatch.setattr(trainer_module.PhySTDTrainer, "__init__", init)
    with pytest.raises(NonFiniteLossError, match=r"step 4: loss 'depth' is nan.*last good checkpoint .*ckpt-2"):
        train(*_configs(toy_root, run_dir, num_steps=10, checkpoint_every=100, image_summary_every=0))
    # Step 3 was never saved (checkpoint_every=100), and the NaN state was not saved at exit either.
    assert sorted(os.listdir(os.path.join(run_dir, "checkpoints"))) == checkpoint_files
