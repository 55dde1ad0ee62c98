"""Trace recovery and detection of several training configurations over seeds (docs/fidelity.md).

Scores every run directory under --runs_root named `<config>_s<seed>` (for example `box_s0`, `point_s2`, made by
`run_train.py --flagfile=flags/demo.flags --seed=<seed> <the config's flags>` on one synthetic set) on its
protocol's test split (physstd.eval.fidelity: video-level test AUC and ACER, and trace recovery per spoof type)
and prints one Markdown table with mean +- sample std over the seeds of each configuration and pooled video
counts, then the print + replay sign test of the frame test; the reference predictors (template, colour map) get
rows of their own, averaged over the runs. A run a trainer still holds is skipped.

    python -m experiments.fidelity_sweep --runs_root=runs/sweep [--configs=box,point] [--output=sweep.md]

A run's trace recovery is read from <run>/eval/trace_recovery/trace_recovery.json when that holds the current
record format (written by `python -m physstd.eval.trace_recovery --run_dir=<run>`), else computed; each run's
figures are cached in <run>/eval/fidelity_sweep.json (delete it to score again).
"""
import collections
import glob
import os
import re

from absl import app, flags

flags.DEFINE_string("runs_root", "runs/sweep", "folder holding <config>_s<seed> run directories")
flags.DEFINE_list("configs", [], "configurations to report, in this order (default: every one found)")
flags.DEFINE_string("output", "", "also write the Markdown table here")
FLAGS = flags.FLAGS

RUN_NAME = re.compile(r"^(?P<config>.+)_s(?P<seed>\d+)$")


def main(argv):
    del argv
    from physstd.eval.fidelity import score_run, table
    from physstd.train.run_lock import held

    by_config = collections.defaultdict(list)
    for run_dir in sorted(glob.glob(os.path.join(FLAGS.runs_root, "*_s*"))):
        match = RUN_NAME.match(os.path.basename(run_dir))
        if not match or not os.path.isdir(os.path.join(run_dir, "checkpoints")):
            continue
        if FLAGS.configs and match["config"] not in FLAGS.configs:
            continue
        if held(run_dir):   # its checkpoints are not final yet
            print(f"skipping {run_dir}: a trainer holds it (still training)", flush=True)
            continue
        print(f"scoring {run_dir}", flush=True)
        by_config[match["config"]].append(score_run(run_dir))
    if not by_config:
        raise app.UsageError(f"no <config>_s<seed> run directory with checkpoints under {FLAGS.runs_root}")
    order = [c for c in FLAGS.configs if c in by_config] or sorted(by_config)
    text = table({c: by_config[c] for c in order})
    print(text)
    if FLAGS.output:
        from physstd import files
        files.write_text_atomic(FLAGS.output, text)


if __name__ == "__main__":
    app.run(main)
