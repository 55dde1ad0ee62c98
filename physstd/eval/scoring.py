"""Method-neutral scoring: the fitted two-term score, per-video scores and the calibration file.

Two-term score (`WeightedDifference`): PhySTD's Eq. 10 and De-Spoof's fused score have one form,

    score = weight * positive_term - negative_term          (higher = more likely an attack)

a term that is large for attacks (PhySTD's trace magnitude, De-Spoof's noise magnitude) against one that is large
for bona fide faces (the depth mean), with one weight >= 0 fitted on a train or dev set (`choose_weight`), never on
test: the two terms live on unrelated scales. PhySTD's terms (Eq. 10) are physstd.methods.physstd.score.

Per-video scores (`video_scores`): the mean frame score of each video, as the protocols score videos.

The calibration file ``<run_dir>/calibration.json`` (format 2) holds, for any method (physstd.methods), the
method's name, its fitted score parameters (PhySTD: {"alpha0": ...}), the decision threshold, the rule that chose it
(`threshold_rule`: {"rule": "eer"}, or {"rule": "bpcer", "bpcer": 0.01} for the threshold at BPCER = 1%; files
written before the key existed were all EER and read so) and the split they were chosen on; test splits are refused,
so a threshold can never be tuned on test data. Runs evaluated before the harness have ``<run_dir>/alpha0.json``
(format 1, PhySTD only); it is still read, as a PhySTD calibration.
The reader and the writer take the method (a physstd.methods.base.Method), which checks its parameters.
"""
import os
import re

import numpy as np

from physstd import files
from physstd.eval import metrics

CALIBRATION_FILENAME = "calibration.json"
CALIBRATION_FORMAT_VERSION = 2
_CALIBRATION_KEYS = ("format_version", "method", "params", "threshold", "split", "score", "decision")
_RULE_KEY = "threshold_rule"   # optional: files written before it are EER calibrations
THRESHOLD_RULES = ("eer", "bpcer")
EER_RULE = {"rule": "eer"}
DEFAULT_BPCER = 0.01   # the operating point of the multi-modal paper (threshold at BPCER = 1% on dev)
# Format 1: alpha0.json of PhySTD runs evaluated before the harness (read only).
LEGACY_CALIBRATION_FILENAME = "alpha0.json"
_LEGACY_KEYS = ("format_version", "alpha0", "threshold", "split", "score", "decision")
_LEGACY_METHOD = "physstd"
_DECISION_RULE = "attack if score >= threshold"


def checked_weight(weight, where="weight"):
    """`weight` as a float when it is a finite number >= 0; else a ValueError naming `where`."""
    if isinstance(weight, bool) or not isinstance(weight, (int, float, np.number)) \
            or not (np.isfinite(weight) and weight >= 0):
        raise ValueError(f"{where} must be a finite number >= 0; got {weight!r}")
    return float(weight)


def weighted_difference(positive, negative, weight):
    """weight * positive - negative (higher = attack), in float64, with the weight checked."""
    weight = checked_weight(weight)
    return weight * np.asarray(positive, dtype=np.float64) - np.asarray(negative, dtype=np.float64)


def default_weight_grid(positive, negative, num=61):
    """0 and ``num`` log-spaced values over 1e-3..1e3 times std(negative) / std(positive).

    The two terms live on unrelated scales (PhySTD: a depth mean in [0, 1] against a sum of L1 norms over ten
    channels), so a fixed grid would sit in the wrong decade; centring it on the ratio of their spreads puts the
    weight at the grid centre where both terms move the score by similar amounts.
    """
    positive_spread = float(np.std(positive))
    negative_spread = float(np.std(negative))
    scale = negative_spread / positive_spread if positive_spread > 0 and negative_spread > 0 else 1.0
    return np.concatenate([[0.0], scale * np.logspace(-3, 3, num)])


def choose_weight(labels, positive, negative, grid=None):
    """The weight >= 0 of weight * positive - negative maximising the AUC on a TRAIN or DEV set (ties: lowest EER,
    then the smallest weight).

    The PhySTD paper only says alpha0 is "empirically determined from the training or validation set". The two
    terms have different scales and either alone can rank samples badly, so the weight matters and must be
    fitted. AUC is the criterion because it scores the ranking over all thresholds (the threshold is chosen
    afterwards, from the same set); EER breaks ties, and the smallest weight wins remaining ties because it trusts
    the depth map, the better-understood cue, the most. The function takes one labelled set and nothing else:
    pass the dev (or train) terms, never test. ``grid`` defaults to ``default_weight_grid``.
    """
    labels = np.asarray(labels)
    positive = np.asarray(positive, dtype=np.float64)
    negative = np.asarray(negative, dtype=np.float64)
    if positive.shape != negative.shape:
        raise ValueError(f"the two score terms differ in shape: {positive.shape} and {negative.shape}")
    grid = default_weight_grid(positive, negative) if grid is None else np.asarray(grid, float)
    if grid.ndim != 1 or grid.size == 0 or not (np.isfinite(grid) & (grid >= 0)).all():
        raise ValueError("the weight grid must be a non-empty 1-D list of finite values >= 0")
    best_key, best_weight = None, None
    for weight in np.unique(grid):  # ascending, so on a full tie the first (smallest) weight is kept
        scores = weighted_difference(positive, negative, weight)
        # Round so that AUCs/EERs equal up to float noise count as ties.
        key = (-round(metrics.auc(labels, scores), 12), round(metrics.eer(labels, scores)[0], 12))
        if best_key is None or key < best_key:
            best_key, best_weight = key, float(weight)
    return best_weight


def calibrate(labels, positive, negative, grid=None):
    """(weight, threshold) from one train/dev set: ``choose_weight``, then the EER threshold of its scores.

    The EER threshold is the usual operating point of the FAS protocols (OULU-NPU, SiW, SiW-M, and the
    HTER of cross-dataset tests): it balances APCER and BPCER on the set it is chosen on.
    """
    weight = choose_weight(labels, positive, negative, grid)
    _, threshold = metrics.eer(labels, weighted_difference(positive, negative, weight))
    return weight, threshold


class WeightedDifference:
    """The two-term score of a method (module doc): `weight` * terms[positive] - terms[negative], the weight fitted.

    weight: the parameter's name (PhySTD: "alpha0"); positive, negative: the score terms' names; owner: the method's
    name in error messages. A method's score, fit_score and check_params are `score`, `fit` and `check`.
    """

    def __init__(self, weight, positive, negative, owner):
        self.weight, self.positive, self.negative, self.owner = weight, positive, negative, owner
        self.terms = (positive, negative)
        self.formula = f"{weight} * {positive} - {negative}"

    def score(self, terms, params):
        """Plain arithmetic, so that it runs on numpy arrays (evaluation) and on tensors (inside the SavedModel);
        `weighted_difference` is its checked numpy form."""
        return params[self.weight] * terms[self.positive] - terms[self.negative]

    def fit(self, labels, terms):
        """{weight: the weight chosen on this train/dev set} (choose_weight)."""
        return {self.weight: choose_weight(labels, terms[self.positive], terms[self.negative])}

    def check(self, params, where):
        """The parameters read from a file, checked; a ValueError naming `where` otherwise."""
        if not isinstance(params, dict) or set(params) != {self.weight}:
            raise ValueError(f"{where}: {self.owner}'s score parameters are {{'{self.weight}': number}}; found "
                             f"{params!r}")
        return {self.weight: checked_weight(params[self.weight], f"{where}: {self.weight}")}


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


def threshold_rule(rule="eer", bpcer=None, where="threshold rule"):
    """A checked threshold rule record: {"rule": "eer"}, or {"rule": "bpcer", "bpcer": target} with the target BPCER
    in (0, 1) (default DEFAULT_BPCER). A target given with the EER rule is refused: it would be silently unused."""
    if rule not in THRESHOLD_RULES:
        raise ValueError(f"{where}: unknown threshold rule {rule!r}; expected one of {', '.join(THRESHOLD_RULES)}")
    if rule == "eer":
        if bpcer is not None:
            raise ValueError(f"{where}: a target BPCER ({bpcer!r}) is read only by the bpcer rule")
        return dict(EER_RULE)
    bpcer = DEFAULT_BPCER if bpcer is None else bpcer
    if isinstance(bpcer, bool) or not isinstance(bpcer, (int, float, np.number)) or not 0 < bpcer < 1:
        raise ValueError(f"{where}: the target BPCER of the bpcer rule must be a number in (0, 1); got {bpcer!r}")
    return {"rule": "bpcer", "bpcer": float(bpcer)}


def _checked_rule(record, where):
    """The threshold_rule record of a calibration file, checked; EER_RULE for files without one."""
    if record is None:
        return dict(EER_RULE)
    if not isinstance(record, dict) or "rule" not in record or set(record) - {"rule", "bpcer"}:
        raise ValueError(f"{where}: threshold_rule must be {{\"rule\": \"eer\"}} or {{\"rule\": \"bpcer\", "
                         f"\"bpcer\": target}}; found {record!r}")
    return threshold_rule(record["rule"], record.get("bpcer"), where)


def export_rule(info, where):
    """The threshold rule an export's info record names (physstd.export writes the calibration's); EER_RULE for
    exports written before the key existed, whose thresholds were all EER thresholds."""
    return _checked_rule(info.get(_RULE_KEY), where)


def describe_rule(rule):
    """'EER' or 'BPCER = 1%': a threshold rule as the tools print it."""
    return "EER" if rule["rule"] == "eer" else f"BPCER = {100 * rule['bpcer']:g}%"


def choose_threshold(labels, scores, rule=None):
    """The decision threshold of a train/dev set under a threshold rule (threshold_rule): the EER threshold
    (metrics.eer), or the BPCER rule's (metrics.bpcer_threshold: the dev BPCER at most the target, the fewest attacks
    accepted)."""
    rule = _checked_rule(rule, "threshold rule")
    if rule["rule"] == "bpcer":
        return metrics.bpcer_threshold(labels, scores, rule["bpcer"])
    return metrics.eer(labels, scores)[1]


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


def save_calibration(path, method, params, threshold, split_name, rule=None):
    """Write a method's (physstd.methods.base.Method) fitted score parameters and the decision threshold (chosen on
    ``split_name``, never a test split, by ``rule``: a threshold_rule record, EER by default) as a format-2
    calibration JSON, atomically; the method checks ``params``."""
    path = os.fspath(path)
    _check_split_name(split_name, path)
    params = method.check_params(params, path)
    record = {"format_version": CALIBRATION_FORMAT_VERSION, "method": method.name, "params": params,
              "threshold": _checked_threshold(threshold, path), _RULE_KEY: _checked_rule(rule, path),
              "split": split_name, "score": method.score_formula, "decision": _DECISION_RULE}
    files.write_json_atomic(path, record)


def load_calibration(path, method):
    """Read a calibration JSON (format 2, or a format-1 alpha0.json of PhySTD) written for `method` (a
    physstd.methods.base.Method, which checks the parameters); returns {"method", "params", "threshold",
    "threshold_rule", "split"} (the rule EER_RULE for files without one), or a ValueError naming the file."""
    path = os.fspath(path)
    record = files.read_json(path, "calibration (score parameters, threshold)")
    version = record.get("format_version") if isinstance(record, dict) else None
    keys = _LEGACY_KEYS if version == 1 else _CALIBRATION_KEYS
    if not isinstance(record, dict) or set(record) - {_RULE_KEY} != set(keys) \
            or (version == 1 and _RULE_KEY in record):
        found = sorted(record) if isinstance(record, dict) else type(record).__name__
        raise ValueError(f"{path}: expected a JSON object with keys {list(_CALIBRATION_KEYS)} (or a format-1 "
                         f"alpha0.json); found {found}")
    if version == 1:
        record = dict(record, method=_LEGACY_METHOD, params={"alpha0": record["alpha0"]})
    elif version != CALIBRATION_FORMAT_VERSION:
        raise ValueError(f"{path}: format_version {version!r}, expected {CALIBRATION_FORMAT_VERSION} (or 1)")
    if record["method"] != method.name:
        raise ValueError(f"{path}: a calibration of method {record['method']!r}, but the model is of method "
                         f"{method.name!r}; run run_test.py (without --use_saved_calibration) to calibrate it again")
    if record["score"] != method.score_formula or record["decision"] != _DECISION_RULE:
        raise ValueError(f"{path}: written for score {record['score']!r} / {record['decision']!r}; "
                         f"expected {method.score_formula!r} / {_DECISION_RULE!r}")
    _check_split_name(record["split"], path)
    return {"method": method.name, "params": method.check_params(record["params"], path),
            "threshold": _checked_threshold(record["threshold"], path),
            "threshold_rule": _checked_rule(record.get(_RULE_KEY), path), "split": record["split"]}
