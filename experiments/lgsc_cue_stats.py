"""Per-type statistics of a trained LGSC run's cue C on its protocol's test split: mean |C| (the score term), the
per-face spatial std and mean of C, and the classifier's p(spoof), each averaged over the first --frames frames of
every video (docs/fidelity.md: whether the cue's size can differ between faces at all).

    python -m experiments.lgsc_cue_stats --run_dir=runs/exp/lgsc_s0 [--frames=4]
"""
import collections

import numpy as np
from absl import app, flags

flags.DEFINE_string("run_dir", None, "a trained LGSC run directory")
flags.DEFINE_integer("frames", 4, "frames read per test video", lower_bound=1)
flags.mark_flag_as_required("run_dir")
FLAGS = flags.FLAGS


def main(argv):
    del argv
    import os

    import tensorflow as tf

    from physstd import methods, runs
    from physstd.data import prepared, protocols

    train = runs.read_run_flags(FLAGS.run_dir)["train"]
    root = train["data_root"]
    split_dir = train.get("split_dir") or os.path.join(root, "protocols")
    inference = methods.get("lgsc").load(FLAGS.run_dir)
    dataset = prepared.PreparedDataset(root)
    types = {row["video_id"]: row["spoof_type"] for row in prepared.read_index(root)[0]}
    by_type = collections.defaultdict(list)
    for video in protocols.load_split(split_dir, train["protocol"], "test", train.get("fold") or None):
        frames = dataset.load_frames(video)[:FLAGS.frames].astype(np.float32) / 255.0
        out = inference(tf.constant(frames))
        cue = out["cue"].numpy()
        by_type[types[video]].append((np.abs(cue).mean(), cue.std(axis=(1, 2)).mean(), cue.mean(),
                                      float(np.mean(out["spoof_probability"]))))
    print("| type | videos | mean abs(C) | per-face spatial std of C | mean C | p(spoof) |")
    print("|---|---|---|---|---|---|")
    for name, rows in sorted(by_type.items()):
        values = np.array(rows)
        cells = [f"{values[:, k].mean():.4f} ± {values[:, k].std(ddof=1):.4f}" for k in range(4)]
        print(f"| {name} | {len(values)} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    app.run(main)
