"""Trace fidelity of runs over seeds: one record per run (detection and trace recovery on its test split), one
Markdown table per group of runs with mean +- sample std over the seeds (experiments/fidelity_sweep.py prints it;
docs/fidelity.md reads it).

A record holds the video-level test AUC and ACER (physstd.eval.evaluate, score parameters and threshold from dev)
and, per spoof type, trace recovery (physstd.eval.trace_recovery): the correlation of the recovered with the true
T_A, of the overall effect I - I_hat where the method has one, the frame test against the per-type template
(videos whose frame specificity beats the template's, and the mean excess), and for the partial attacks the IoU
of the estimated region P > 0.5 with the true one; for a method with a sensor-depth trace (the Multi-Modal
Disentanglement Network), the correlation of its depth trace with the true one, as extra columns. A method without
an additive trace (the Auxiliary CNN) gets its detection columns and dashes.
"""
import json
import os

import numpy as np

from physstd import files, methods, runs
from physstd.eval import evaluate, trace_recovery

WHOLE_FACE = ("print", "replay")          # the additive attacks over the whole face
LOCAL = ("paper_mask", "cosmetic")        # local additive traces
REGION = ("paper_glasses", "partial_paper")  # attacks with an inpainting region (IoU of P > 0.5)
REFERENCE_ROWS = ("template", "colour map")


def score_run(run_dir):
    """{auc, acer, types: {type: {correlation, effect, positive, videos, beats_template, frame_videos, excess,
    iou, depth, references: {template, colour map: correlation}}}} of one run (cached; depth: the depth-trace
    correlation, None without one)."""
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
                       "depth": (m.get("depth_trace") or {}).get("correlation"),
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
    header = ["config", "seeds", "test AUC %", "test ACER %"]
    for t in WHOLE_FACE:
        header += [f"{t} r on T_A", f"{t} r on effect", f"{t} beats template, excess"]
    header += [f"{t} r" for t in LOCAL] + [f"{t} IoU" for t in REGION] + ["print+replay beat template (p)"]
    traced = [r for records in by_config.values() for r in records if r["types"]]
    # Depth-trace columns only when some run has a depth trace (records cached before they existed have no key).
    depth = any(r["types"][n].get("depth") is not None for r in traced for n in WHOLE_FACE)
    header += [f"{t} depth-trace r" for t in WHOLE_FACE] if depth else []
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
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
        cells.append(f"{k}/{n} ({trace_recovery.sign_test(k, n):.2g})")
        if depth:
            cells += [_mean_std([r["types"][name].get("depth") for r in records]) for name in WHOLE_FACE]
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
