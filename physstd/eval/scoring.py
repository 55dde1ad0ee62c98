"""The PhySTD spoof score (seeds/001 Eq. 10), its weight alpha0, per-video scores and the calibration file.

Eq. 10 adds (1/2K^2)||M||_1, the depth norm, which is LARGE for bona fide faces, and
(alpha0/2N^2)(||B||_1+||C||_1+||T||_1+||P||_1), the trace norm, which is LARGE for attacks. Added with the
same sign the two terms pull in opposite directions, so we write the score with explicit signs
(DESIGN 4.4): higher = more likely an attack, as every metric in physstd.eval.metrics expects:

    spoof_score = alpha0 * trace_magnitude - depth_mean
    trace_magnitude = (||B||_1 + ||C||_1 + ||T||_1 + ||P||_1) / N^2   (per frame, summed over channels)
    depth_mean      = ||M||_1 / K^2                                    (per frame)

This is 2 * (trace term - depth term) of Eq. 10, so our alpha0 weights the traces against the depth as
the paper's alpha0 does (and weights B, C, T, P per element equally, as the paper's sum of L1 norms does).
"mean(|B|+|C|+|T|+|P|)" in the team contract means this: the per-pixel sum over all ten channels,
averaged over the N x N pixels.

The calibration file ``<run_dir>/calibration.json`` (format 2) holds, for any method (physstd.methods), the
method's name, its fitted score parameters (PhySTD: {"alpha0": ...}), the decision threshold and the split they
were chosen on; test splits are refused, so a threshold can never be tuned on test data. Runs evaluated before
the harness have ``<run_dir>/alpha0.json`` (format 1, PhySTD only); it is still read, as a PhySTD calibration.
"""
import os
import re

import numpy as np

from physstd import files
from physstd.eval import metrics

CALIBRATION_FILENAME = "calibration.json"
CALIBRATION_FORMAT_VERSION = 2
_CALIBRATION_KEYS = ("format_version", "method", "params", "threshold", "split", "score", "decision")
# Format 1: alpha0.json of PhySTD runs evaluated before the harness (read only).
LEGACY_CALIBRATION_FILENAME = "alpha0.json"
_LEGACY_KEYS = ("format_version", "alpha0", "threshold", "split", "score", "decision")
_LEGACY_METHOD = "physstd"
_DECISION_RULE = "attack if score >= threshold"


def frame_statistics(B, C, T, P, M):
    """Per-frame trace magnitude (||B||+||C||+||T||+||P||)/N^2 and depth mean ||M||/K^2 of Eq. 10.

    B, C, T: (F, N, N, 3); P: (F, N, N, 1); M: (F, K, K, 1) or (F, K, K). Returns two float64 (F,) arrays.
    """
    B, C, T, P, M = (np.asarray(a, dtype=np.float64) for a in (B, C, T, P, M))
    for name, array in (("B", B), ("C", C), ("T", T), ("P", P)):
        if array.ndim != 4 or array.shape[:3] != B.shape[:3]:
            raise ValueError(f"trace {name} has shape {array.shape}; expected (F, N, N, channels) "
                             f"matching B {B.shape[:3]}")
    if M.ndim not in (3, 4) or M.shape[0] != B.shape[0]:
        raise ValueError(f"depth M has shape {M.shape}; expected (F, K, K[, 1]) with F = {B.shape[0]}")
    frames, height, width = B.shape[:3]
    l1 = sum(np.abs(a).reshape(frames, -1).sum(axis=1) for a in (B, C, T, P))
    trace_magnitude = l1 / (height * width)
    depth_mean = M.reshape(frames, -1).mean(axis=1)
    return trace_magnitude, depth_mean


def checked_alpha0(alpha0, where="alpha0"):
    if isinstance(alpha0, bool) or not isinstance(alpha0, (int, float, np.number)) \
            or not (np.isfinite(alpha0) and alpha0 >= 0):
        raise ValueError(f"{where} must be a finite number >= 0; got {alpha0!r}")
    return float(alpha0)


def spoof_score(trace_magnitude, depth_mean, alpha0):
    """Eq. 10 with consistent signs: alpha0 * trace_magnitude - depth_mean (higher = attack)."""
    alpha0 = checked_alpha0(alpha0)
    return alpha0 * np.asarray(trace_magnitude, dtype=np.float64) - np.asarray(depth_mean, dtype=np.float64)


def default_alpha0_grid(trace_magnitude, depth_mean, num=61):
    """0 and ``num`` log-spaced values over 1e-3..1e3 times std(depth_mean) / std(trace_magnitude).

    The two terms of Eq. 10 live on unrelated scales (a depth mean in [0, 1] against a sum of L1 norms
    over ten channels), so a fixed grid would sit in the wrong decade; centring it on the ratio of their
    spreads puts alpha0 = grid centre where both terms move the score by similar amounts.
    """
    trace_spread = float(np.std(trace_magnitude))
    depth_spread = float(np.std(depth_mean))
    scale = depth_spread / trace_spread if trace_spread > 0 and depth_spread > 0 else 1.0
    return np.concatenate([[0.0], scale * np.logspace(-3, 3, num)])


def choose_alpha0(labels, trace_magnitude, depth_mean, grid=None):
    """alpha0 >= 0 of Eq. 10 maximising the AUC on a TRAIN or DEV set (ties: lowest EER, then smallest alpha0).

    The paper only says alpha0 is "empirically determined from the training or validation set". The
    depth mean and the trace magnitude have different scales and either alone can rank samples badly, so
    the weight matters and must be fitted. AUC is the criterion because it scores the ranking over all
    thresholds (the threshold is chosen afterwards, from the same set); EER breaks ties, and the smallest
    alpha0 wins remaining ties because it trusts the depth map, the better-understood cue, the most.
    The function takes one labelled set and nothing else: pass the dev (or train) statistics, never test.
    ``grid`` defaults to ``default_alpha0_grid``.
    """
    labels = np.asarray(labels)
    trace_magnitude = np.asarray(trace_magnitude, dtype=np.float64)
    depth_mean = np.asarray(depth_mean, dtype=np.float64)
    if trace_magnitude.shape != depth_mean.shape:
        raise ValueError(f"trace_magnitude {trace_magnitude.shape} and depth_mean {depth_mean.shape} differ")
    grid = default_alpha0_grid(trace_magnitude, depth_mean) if grid is None else np.asarray(grid, float)
    if grid.ndim != 1 or grid.size == 0 or not (np.isfinite(grid) & (grid >= 0)).all():
        raise ValueError("alpha0 grid must be a non-empty 1-D list of finite values >= 0")
    best_key, best_alpha0 = None, None
    for alpha0 in np.unique(grid):  # ascending, so on a full tie the first (smallest) alpha0 is kept
        scores = spoof_score(trace_magnitude, depth_mean, alpha0)
        # Round so that AUCs/EERs equal up to float noise count as ties.
        key = (-round(metrics.auc(labels, scores), 12), round(metrics.eer(labels, scores)[0], 12))
        if best_key is None or key < best_key:
            best_key, best_alpha0 = key, float(alpha0)
    return best_alpha0


def calibrate(labels, trace_magnitude, depth_mean, grid=None):
    """(alpha0, threshold) from one train/dev set: ``choose_alpha0``, then the EER threshold of its scores.

    The EER threshold is the usual operating point of the FAS protocols (OULU-NPU, SiW, SiW-M, and the
    HTER of cross-dataset tests): it balances APCER and BPCER on the set it is chosen on.
    """
    alpha0 = choose_alpha0(labels, trace_magnitude, depth_mean, grid)
    _, threshold = metrics.eer(labels, spoof_score(trace_magnitude, depth_mean, alpha0))
    return alpha0, threshold


def video_scores(video_ids, frame_scores, labels=None, species=None):
    """Mean frame score per video; returns (ids, scores, labels, species) in order of first appearance.

    ``labels`` / ``species`` are per frame and optional; every video must carry a single value of each
    (a ValueError names the first video that does not). The returned labels/species are None when not given.
    ``video_ids`` may be str or bytes (as tf.string tensors give them).
    """
    ids = np.asarray([v.decode("utf-8") if isinstance(v, bytes) else str(v) for v in video_ids])
    frame_scores = np.asarray(frame_scores, dtype=np.float64)
    if ids.ndim != 1 or ids.shape != frame_scores.shape:
        raise ValueError(f"video_ids {ids.shape} and frame_scores {frame_scores.shape} must be equal-length 1-D")
    if ids.size == 0:
        raise ValueError("no frames to score")
    unique, first, inverse = np.unique(ids, return_index=True, return_inverse=True)
    order = np.argsort(first)  # videos in order of first appearance
    rank = np.empty_like(order)
    rank[order] = np.arange(order.size)
    video = rank[inverse]  # video index of each frame
    counts = np.bincount(video)
    scores = np.bincount(video, weights=frame_scores) / counts

    def per_video(values, what):
        if values is None:
            return None
        values = np.asarray(values)
        if values.shape != ids.shape:
            raise ValueError(f"{what} has shape {values.shape}; expected one entry per frame {ids.shape}")
        first_value = values[first[order]]
        mismatch = np.flatnonzero(values != first_value[video])
        if mismatch.size:
            bad = video[mismatch[0]]
            raise ValueError(f"video {str(unique[order][bad])!r} has frames with different {what}: "
                             f"{first_value[bad].item()!r} and {values[mismatch[0]].item()!r}")
        return first_value

    return unique[order], scores, per_video(labels, "labels"), per_video(species, "species")


def _check_split_name(split_name, path):
    if not isinstance(split_name, str) or not split_name:
        raise ValueError(f"{path}: split name must be a non-empty string such as 'dev' or 'train'")
    if "test" in re.split(r"[^a-z0-9]+", split_name.lower()):
        raise ValueError(f"{path}: the score parameters and the threshold must be chosen on a train or dev split, "
                         f"not on {split_name!r}")


def _checked_threshold(threshold, path):
    if isinstance(threshold, bool) or not isinstance(threshold, (int, float, np.number)) \
            or not np.isfinite(threshold):
        raise ValueError(f"{path}: threshold must be a finite number; found {threshold!r}")
    return float(threshold)


def run_calibration_path(run_dir):
    """The calibration file of a run directory to read: calibration.json, else a former alpha0.json, else None."""
    for name in (CALIBRATION_FILENAME, LEGACY_CALIBRATION_FILENAME):
        path = os.path.join(os.fspath(run_dir), name)
        if os.path.exists(path):
            return path
    return None


def save_calibration(path, method_name, params, threshold, split_name):
    """Write a method's fitted score parameters and the decision threshold (chosen on ``split_name``, never a test
    split) as a format-2 calibration JSON, atomically. ``params`` are checked by the method (physstd.methods)."""
    from physstd import methods

    path = os.fspath(path)
    _check_split_name(split_name, path)
    method = methods.get(method_name, path)
    params = method.check_params(params, path)
    record = {"format_version": CALIBRATION_FORMAT_VERSION, "method": method.name, "params": params,
              "threshold": _checked_threshold(threshold, path), "split": split_name,
              "score": method.score_formula, "decision": _DECISION_RULE}
    files.write_json_atomic(path, record)


def load_calibration(path):
    """Read a calibration JSON (format 2, or a format-1 alpha0.json of PhySTD); returns {"method", "params",
    "threshold", "split"}, or a ValueError naming the file."""
    from physstd import methods

    path = os.fspath(path)
    record = files.read_json(path, "calibration (score parameters, threshold)")
    version = record.get("format_version") if isinstance(record, dict) else None
    keys = _LEGACY_KEYS if version == 1 else _CALIBRATION_KEYS
    if not isinstance(record, dict) or set(record) != set(keys):
        found = sorted(record) if isinstance(record, dict) else type(record).__name__
        raise ValueError(f"{path}: expected a JSON object with keys {list(_CALIBRATION_KEYS)} (or a format-1 "
                         f"alpha0.json); found {found}")
    if version == 1:
        record = dict(record, method=_LEGACY_METHOD, params={"alpha0": record["alpha0"]})
    elif version != CALIBRATION_FORMAT_VERSION:
        raise ValueError(f"{path}: format_version {version!r}, expected {CALIBRATION_FORMAT_VERSION} (or 1)")
    method = methods.get(record["method"], f"{path}: method")
    if record["score"] != method.score_formula or record["decision"] != _DECISION_RULE:
        raise ValueError(f"{path}: written for score {record['score']!r} / {record['decision']!r}; "
                         f"expected {method.score_formula!r} / {_DECISION_RULE!r}")
    _check_split_name(record["split"], path)
    return {"method": method.name, "params": method.check_params(record["params"], path),
            "threshold": _checked_threshold(record["threshold"], path), "split": record["split"]}
