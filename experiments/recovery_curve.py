"""Trace recovery along training: every checkpoint a run kept, scored on the test split (docs/fidelity.md).

Does the recovered trace follow the frame early in training and lose it later? Train with checkpoints every 100
steps and keep them all, then score each:

    python run_train.py --flagfile=flags/demo.flags --run_dir=runs/curve --checkpoint_every=100 --keep_checkpoints=13
    python -m experiments.recovery_curve --run_dir=runs/curve [--types=print,replay]

Prints one Markdown row per checkpoint: per type the correlation with the true T_A, with the true effect where
the method has one, the frame test against the per-type template (videos beating it / videos, and the mean
excess), and the pooled correlation. Nothing here is used by training or evaluation.
"""
import os

from absl import app, flags

flags.DEFINE_string("run_dir", None, "a PhySTD run directory whose checkpoints/ holds several checkpoints")
flags.DEFINE_list("types", ["print", "replay"], "spoof types to print")
FLAGS = flags.FLAGS


def checkpoint_paths(run_dir):
    """The checkpoint prefixes of a run, oldest first, with their step (the number after 'ckpt-')."""
    import tensorflow as tf

    from physstd import runs

    state = tf.train.get_checkpoint_state(os.path.join(run_dir, runs.CHECKPOINT_DIR))
    if state is None:
        raise app.UsageError(f"{run_dir}: no checkpoint")
    return [(int(path.rsplit("-", 1)[1]), path) for path in state.all_model_checkpoint_paths]


def main(argv):
    del argv
    import tensorflow as tf

    from physstd import runs
    from physstd.data import protocols
    from physstd.eval import trace_recovery
    from physstd.methods.physstd.inference import load_generator, trace_model

    generator, model_config = load_generator(FLAGS.run_dir)
    train = runs.read_run_flags(FLAGS.run_dir)["train"]
    split_dir = train.get("split_dir") or os.path.join(train["data_root"], "protocols")
    fold = train.get("fold") or None
    protocols.check_identities(split_dir, train["protocol"], fold, train["data_root"])   # no leaked subject
    test_ids = protocols.load_split(split_dir, train["protocol"], "test", fold)
    train_ids = protocols.load_split(split_dir, train["protocol"], "train", fold)
    model = trace_model(generator, model_config)
    checkpoint = tf.train.Checkpoint(generator=runs.network_checkpoint(generator))
    header = ["step"] + [f"{t} {what}" for t in FLAGS.types for what in ("r on T_A", "r on effect",
                                                                           "beats template, excess")]
    print("| " + " | ".join(header + ["all types r"]) + " |\n|" + "---|" * (len(header) + 1), flush=True)
    for step, path in checkpoint_paths(FLAGS.run_dir):
        checkpoint.restore(path).expect_partial()
        result = trace_recovery.recovery_on_split(model, train["data_root"], test_ids, train_ids=train_ids)
        cells = [str(step)]
        for name in FLAGS.types:
            values = result[name]
            test = values["frame_test"]
            cells += [f"{values['correlation']:.3f}", f"{values['effect']['correlation']:.3f}",
                      f"{test['template']['beats']}/{test['videos']} ({test['template']['p']:.2g}), "
                      f"{test['template']['excess']:+.3f}"]
        cells.append(f"{result[trace_recovery.ALL_TYPES]['correlation']:.3f}")
        print("| " + " | ".join(cells) + " |", flush=True)


if __name__ == "__main__":
    flags.mark_flag_as_required("run_dir")
    app.run(main)
