"""How much of the synthetic set's true trace can a generator of the same size recover at all?

PhySTD learns its traces without ever seeing a true one. This script trains the same generator *supervised*:
its additive trace T_A = [B]n1 + [C]n2 + T regressed onto the true T_A of the synthetic set (truth.npz, squared
error outside the true inpainting region; zero for live frames), on the train identities, for as many steps as
the demo. The test-split recovery of that model (physstd.eval.trace_recovery.recovery_on_split: correlation per
type and per Eq. 9 band, PSNR) is a ceiling for what a single image and this network size allow; printed next to a
PhySTD run's own recovery (--run_dir) it separates what the unsupervised method misses from what no model of this
size can see in one frame (for example a print's tone compression inside the live videos' own gain and contrast
range). Every column is scored with trace recovery's reference rows and frame test (the template and colour map
fitted on the train split).

    python -m experiments.trace_ceiling --data_root=demo_output/data/synthetic64 --run_dir=demo_output/run \
        [--save_dir=runs/ceiling]

Several runs (--run_dir=a,b,c: the demo trained with other --seed values) also print the mean and spread of
PhySTD's figures, which move a lot from seed to seed at this scale; --steps=0 skips the supervised model. Each
model's column also counts the test videos whose recovered trace correlates positively with the true one, and
those that correlate better with their own true trace than with another video's
(physstd.eval.trace_recovery.video_statistics).

Nothing here is used in training or evaluation: it reads truth.npz, which real data never have.
"""
import os
import time

from absl import app, flags

import numpy as np

flags.DEFINE_string("data_root", "demo_output/data/synthetic64", "a prepared synthetic set (make demo writes one)")
flags.DEFINE_string("protocol", "identity", "protocol whose train split trains and whose test split evaluates")
flags.DEFINE_list("run_dir", [], "PhySTD runs on the same data to compare with (e.g. demo_output/run); several "
                  "(comma-separated, e.g. one per seed) also get mean +- std")
flags.DEFINE_integer("steps", 1200, "training steps (the demo's); 0 = no supervised model, only the runs")
flags.DEFINE_integer("batch_size", 8, "half live, half spoof frames")
flags.DEFINE_float("learning_rate", 2e-4, "Adam learning rate (the demo's)")
flags.DEFINE_float("width", 0.25, "generator width (the demo's)")
flags.DEFINE_bool("jit_compile", True, "compile the training step with XLA")
flags.DEFINE_integer("seed", 0, "seed of the weights and the batch order")
flags.DEFINE_string("save_dir", "", "also save the supervised generator as a PhySTD run directory here (a new folder), "
                    "so that `python -m physstd.eval.trace_recovery --reference_run=<it>` prints it as the ceiling")
FLAGS = flags.FLAGS


def save_run(save_dir, generator, model_config, data_root, protocol):
    """Write the supervised generator as a run directory that PhySTD's loader reads (flags.json + checkpoint)."""
    import tensorflow as tf

    from physstd import files, runs
    from physstd.train.config import TrainConfig

    if os.path.exists(save_dir):
        raise app.UsageError(f"--save_dir={save_dir} exists; give a new folder")
    os.makedirs(os.path.join(save_dir, runs.CHECKPOINT_DIR))
    train = TrainConfig(data_root=os.path.abspath(data_root), protocol=protocol, num_steps=FLAGS.steps)
    files.write_json_atomic(os.path.join(save_dir, runs.FLAGS_FILE),
                            {"train": train.to_dict(), "model": model_config.to_dict(),
                             "note": "generator supervised on the true traces (experiments.trace_ceiling)"})
    checkpoint = tf.train.Checkpoint(generator=runs.network_checkpoint(generator))
    tf.train.CheckpointManager(checkpoint, os.path.join(save_dir, runs.CHECKPOINT_DIR), 1).save(FLAGS.steps)


def main(argv):
    del argv
    from physstd.data import prepared, protocols
    from physstd.eval.trace_ceiling import load_frames
    from physstd.eval.trace_recovery import BANDS, format_correlation, recovery_on_split
    from physstd.methods.physstd.inference import load_generator
    from physstd.methods.physstd.inference import trace_model as physstd_trace_model
    from physstd.methods.physstd.supervised import train_supervised
    from physstd.models import ModelConfig

    image_size = prepared.read_meta(FLAGS.data_root)["image_size"]
    split_dir = os.path.join(FLAGS.data_root, "protocols")
    protocols.check_identities(split_dir, FLAGS.protocol, None, FLAGS.data_root)   # no leaked subject
    test_ids = protocols.load_split(split_dir, FLAGS.protocol, "test")
    train_ids = protocols.load_split(split_dir, FLAGS.protocol, "train")
    columns, runs = {}, []   # model name -> recovery_on_split result; the names of the PhySTD runs
    if FLAGS.steps > 0:
        model_config = ModelConfig(image_size=image_size, width=FLAGS.width)
        images, traces, masks, labels = load_frames(
            FLAGS.data_root, protocols.load_split(split_dir, FLAGS.protocol, "train"), image_size)
        print(f"train split: {int((labels == 0).sum())} live and {int((labels == 1).sum())} spoof frames, N = "
              f"{image_size}, width {FLAGS.width}")
        start = time.perf_counter()
        generator = train_supervised(images, traces, masks, labels, model_config, FLAGS.steps, FLAGS.batch_size,
                                     FLAGS.learning_rate, FLAGS.seed, FLAGS.jit_compile)
        print(f"trained in {time.perf_counter() - start:.0f} s")
        columns["supervised"] = recovery_on_split(physstd_trace_model(generator, model_config), FLAGS.data_root,
                                                  test_ids, train_ids=train_ids)
        if FLAGS.save_dir:
            save_run(FLAGS.save_dir, generator, model_config, FLAGS.data_root, FLAGS.protocol)
            print(f"supervised generator saved as a run in {FLAGS.save_dir}")
    for k, run_dir in enumerate(FLAGS.run_dir, start=1):
        run_generator, run_config = load_generator(run_dir)
        runs.append(f"PhySTD run {k}")
        columns[runs[-1]] = recovery_on_split(physstd_trace_model(run_generator, run_config), FLAGS.data_root,
                                              test_ids, train_ids=train_ids)
        print(f"PhySTD run {k}: {run_dir}")
    if not columns:
        raise app.UsageError("nothing to measure: give --steps > 0 and/or --run_dir")
    # 'template': the per-type mean true trace of the train split (physstd.eval.trace_recovery's reference row).
    # 'videos': how many test videos correlate positively, and how many beat the template's frame specificity.
    header = "| spoof type |" + "".join(f" {name}: corr. (low / mid / high) | template | videos r > 0, beat "
                                        f"template | PSNR (dB) |" for name in columns)
    rule = "|---|" + "---|---:|---:|---:|" * len(columns)
    if len(runs) > 1:
        header += " PhySTD corr. mean +- std | template mean +- std |"
        rule += "---:|---:|"
    supervised = columns.get("supervised")
    if supervised and runs:
        header += " PhySTD (mean over runs) / supervised corr. |"
        rule += "---:|"
    first = next(iter(columns.values()))
    print(f"\nTrace recovery on the test split of {FLAGS.protocol} ({FLAGS.data_root}); PSNR if the trace is "
          f"left in: " + ", ".join(f"{name} {v['psnr_without_removal']:.1f} dB" for name, v in first.items()))
    print(f"\n{header}\n{rule}")
    for name in first:
        row = f"| {name} |"
        for result in columns.values():
            values = result[name]
            videos = values["videos"]
            test = values["frame_test"]
            row += (f" {_correlations(values, BANDS)} |"
                    f" {format_correlation(values['references']['template']['correlation'])} |"
                    f" {videos['positive']}/{videos['videos']}, {test['template']['beats']}/{test['videos']} |"
                    f" {values['psnr']:.1f} |")
        if len(runs) > 1:
            row += (f" {_mean_std([columns[run][name]['correlation'] for run in runs])} |"
                    f" {_mean_std([columns[run][name]['references']['template']['correlation'] for run in runs])} |")
        if supervised and runs:
            ceiling = supervised[name]["correlation"]
            ours = np.mean([columns[run][name]["correlation"] for run in runs])
            row += f" {ours / ceiling if ceiling > 0 else float('nan'):.2f} |"
        print(row)


def _mean_std(values):
    values = [v for v in values if v is not None]
    return f"{np.mean(values):.3f} +- {np.std(values, ddof=1):.3f}" if len(values) > 1 else "-"


def _correlations(values, bands):
    per_band = " / ".join(f"{values['bands'][band]:.2f}" for band in bands)
    return f"{values['correlation']:.3f} ({per_band})"


if __name__ == "__main__":
    app.run(main)
