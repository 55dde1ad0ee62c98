"""Trace recovery and detection of several training configurations over seeds (docs/fidelity.md).

Scores every run directory under --runs_root named `<config>_s<seed>` (for example `box_s0`, `point_s2`, made by
`run_train.py --flagfile=flags/demo.flags --seed=<seed> <the config's flags>` on one synthetic set) on its
protocol's test split: video-level test AUC and ACER (physstd.eval.evaluate, alpha0 and threshold from dev) and
trace recovery (physstd.eval.trace_recovery): per spoof type the correlation of the recovered with the true T_A,
of the overall effect I - I_hat where the method has one, the frame test against the per-type template (videos
whose frame specificity beats the template's, and the mean excess), and for the partial attacks the IoU of the
estimated region P > 0.5 with the true one. The reference predictors (template, colour map) are printed as rows of
their own, averaged over the runs. Prints one Markdown table with mean +- sample std over the seeds of each
configuration and pooled video counts, then the print + replay sign test of the frame test. A method without an
additive trace (the Auxiliary CNN) gets its detection columns and dashes.

    python -m benchmarks.fidelity_sweep --runs_root=runs/sweep [--configs=box,point] [--output=sweep.md]

A run's trace recovery is read from <run>/eval/trace_recovery/trace_recovery.json when that holds the current
record format (written by `python -m physstd.eval.trace_recovery --run_dir=<run>`), else computed; each run's
figures are cached in <run>/eval/fidelity_sweep.json (delete it to score again).
"""
import collections
import glob
import json
import os
import re

from absl import app, flags

import numpy as np

flags.DEFINE_string("runs_root", "runs/sweep", "folder holding <config>_s<seed> run directories")
flags.DEFINE_list("configs", [], "configurations to report, in this order (default: every one found)")
flags.DEFINE_string("output", "", "also write the Markdown table here")
FLAGS = flags.FLAGS

WHOLE_FACE = ("print", "replay")          # the additive attacks over the whole face
LOCAL = ("paper_mask", "cosmetic")        # local additive traces
REGION = ("paper_glasses", "partial_paper")  # attacks with an inpainting region (IoU of P > 0.5)
RUN_NAME = re.compile(r"^(?P<config>.+)_s(?P<seed>\d+)$")


REFERENCE_ROWS = ("template", "colour map")


def score_run(run_dir):
    """{auc, acer, types: {type: {correlation, effect, positive, videos, beats_template, frame_videos, excess,
    iou, references: {template, colour map: correlation}}}} of one run (cached)."""
    from physstd import files, methods, runs
    from physstd.eval import evaluate, trace_recovery

    cache = os.path.join(run_dir, "eval", "fidelity_sweep.json")
    if os.path.exists(cache):
        with open(cache) as f:
            return json.load(f)
    _, folds = evaluate.evaluate_models([run_dir], os.path.join(run_dir, "eval", "sweep_test"), log=lambda *a: None)
    method = methods.of_run(run_dir)
    saved = os.path.join(run_dir, "eval", "trace_recovery", "trace_recovery.json")
    saved = files.read_json(saved, "trace recovery record") if os.path.exists(saved) else {}
    if saved.get("format_version") == trace_recovery.RECORD_FORMAT_VERSION:
        recovery = saved["types"]
    elif method.trace_model(method.load(run_dir)) is not None:   # e.g. the Auxiliary CNN has none
        recovery = trace_recovery.record_of(trace_recovery.recovery_of_run(run_dir)[0])
    else:
        recovery = {}
    types = {}
    for name, m in recovery.items():
        test = m.get("frame_test") or {}
        template = test.get(trace_recovery.TEMPLATE) or {}
        types[name] = {"correlation": m["correlation"], "effect": (m.get("effect") or {}).get("correlation"),
                       "positive": m["videos"]["positive"], "videos": m["videos"]["videos"],
                       "beats_template": template.get("beats", 0), "frame_videos": test.get("videos", 0),
                       "excess": template.get("excess"), "iou": (m.get("mask") or {}).get("iou"),
                       "references": {ref: m["references"][ref]["correlation"]
                                      for ref in REFERENCE_ROWS if ref in m.get("references", {})}}
    data_root = runs.read_run_flags(run_dir)["train"].get("data_root", "")
    record = {"auc": folds[0]["metrics"]["auc"], "acer": folds[0]["metrics"]["acer"], "types": types,
              "data": os.path.basename(os.path.normpath(data_root))}
    files.write_json_atomic(cache, record)
    return record


def _mean_std(values, digits=3):
    values = [v for v in values if v is not None]
    if not values:
        return "-"
    if len(values) == 1:
        return f"{values[0]:.{digits}f}"
    return f"{np.mean(values):.{digits}f} ± {np.std(values, ddof=1):.{digits}f}"   # sample std over the seeds


def _counts(records, name, key, total):
    """'k/n' pooled over the seeds."""
    return f"{sum(r['types'][name][key] for r in records)}/{sum(r['types'][name][total] for r in records)}"


def table(by_config):
    from physstd.eval.trace_recovery import sign_test

    header = ["config", "seeds", "test AUC %", "test ACER %"]
    for t in WHOLE_FACE:
        header += [f"{t} r on T_A", f"{t} r on effect", f"{t} beats template, excess"]
    header += [f"{t} r" for t in LOCAL] + [f"{t} IoU" for t in REGION] + ["print+replay beat template (p)"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    traced = [r for records in by_config.values() for r in records if r["types"]]
    for config, records in by_config.items():
        cells = [config, str(len(records)), _mean_std([100 * r["auc"] for r in records], digits=2),
                 _mean_std([100 * r["acer"] for r in records], digits=2)]
        if not all(r["types"] for r in records):   # a method without a trace (or a mix): detection only
            lines.append("| " + " | ".join(cells + ["-"] * (len(header) - len(cells))) + " |")
            continue
        for name in WHOLE_FACE:
            cells += [_mean_std([r["types"][name]["correlation"] for r in records]),
                      _mean_std([r["types"][name]["effect"] for r in records]),
                      f"{_counts(records, name, 'beats_template', 'frame_videos')}, "
                      f"{_mean_std([r['types'][name]['excess'] for r in records])}"]
        cells += [_mean_std([r["types"][name]["correlation"] for r in records]) for name in LOCAL]
        cells += [_mean_std([r["types"][name]["iou"] for r in records]) for name in REGION]
        k = sum(r["types"][n]["beats_template"] for r in records for n in WHOLE_FACE)
        n = sum(r["types"][n]["frame_videos"] for r in records for n in WHOLE_FACE)
        cells.append(f"{k}/{n} ({sign_test(k, n):.2g})")
        lines.append("| " + " | ".join(cells) + " |")
    sets = list(dict.fromkeys(r.get("data", "") for r in traced))
    for data, ref in ((data, ref) for data in sets for ref in REFERENCE_ROWS):
        # Fitted on the train split: the same for every run of one set, so one row per set.
        values = [r for r in traced if r.get("data", "") == data
                  and all(ref in r["types"][n]["references"] for n in WHOLE_FACE + LOCAL)]
        if not values:
            continue
        cells = [f"{ref} (reference{', ' + data if len(sets) > 1 else ''})", str(len(values)), "-", "-"]
        for name in WHOLE_FACE:
            cells += [_mean_std([r["types"][name]["references"][ref] for r in values]), "-", "-"]
        cells += [_mean_std([r["types"][name]["references"][ref] for r in values]) for name in LOCAL]
        cells += ["-"] * (len(header) - len(cells))
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def _training(run_dir):
    """Whether a trainer holds the run directory's lock (its checkpoints are not final yet)."""
    from physstd.train.run_lock import RunDirLock, RunDirLocked

    lock = RunDirLock(run_dir)
    try:
        lock.acquire()
    except RunDirLocked:
        return True
    lock.release()
    return False


def main(argv):
    del argv
    by_config = collections.defaultdict(list)
    for run_dir in sorted(glob.glob(os.path.join(FLAGS.runs_root, "*_s*"))):
        match = RUN_NAME.match(os.path.basename(run_dir))
        if not match or not os.path.isdir(os.path.join(run_dir, "checkpoints")):
            continue
        if FLAGS.configs and match["config"] not in FLAGS.configs:
            continue
        if _training(run_dir):
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
