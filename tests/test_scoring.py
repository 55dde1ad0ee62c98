import inspect
import json
import os

import numpy as np
import pytest

from physstd import methods
from physstd.eval import metrics, scoring
from physstd.methods.physstd import score as eq10

PHYSTD = methods.get("physstd")


def _traces():
    """Two frames, N = 2, K = 2, with hand-summable values."""
    B = np.full((2, 2, 2, 3), 0.1)
    C = np.full((2, 2, 2, 3), -0.2)
    T = np.zeros((2, 2, 2, 3))
    T[1] = 0.5
    P = np.zeros((2, 2, 2, 1))
    P[0, 0, 0, 0] = 1.0
    M = np.array([[[1.0, 0.5], [0.5, 0.0]], [[0.0, 0.0], [0.0, 0.2]]])[..., None]
    return B, C, T, P, M


def test_frame_statistics_by_hand():
    trace_magnitude, depth_mean = eq10.frame_statistics(*_traces())
    # Per pixel: |B| = 3 * 0.1, |C| = 3 * 0.2, |T| = 0 or 3 * 0.5; P = 1 on one of 4 pixels in frame 0.
    np.testing.assert_allclose(trace_magnitude, [0.3 + 0.6 + 0.0 + 0.25, 0.3 + 0.6 + 1.5 + 0.0])
    np.testing.assert_allclose(depth_mean, [0.5, 0.05])


def test_the_physstd_score_is_eq10_with_the_depth_sign_flipped():
    B, C, T, P, M = _traces()
    trace_magnitude, depth_mean = eq10.frame_statistics(B, C, T, P, M)
    alpha0 = 2.0
    np.testing.assert_allclose(scoring.weighted_difference(trace_magnitude, depth_mean, alpha0),
                               [2.0 * 1.15 - 0.5, 2.0 * 2.4 - 0.05])
    # Eq. 10's two terms with N = K = 2: (1/2K^2)||M||_1 and (alpha0/2N^2) sum of L1 norms.
    depth_term = np.abs(M).sum(axis=(1, 2, 3)) / (2 * 2 ** 2)
    trace_term = alpha0 * sum(np.abs(a).sum(axis=(1, 2, 3)) for a in (B, C, T, P)) / (2 * 2 ** 2)
    np.testing.assert_allclose(scoring.weighted_difference(trace_magnitude, depth_mean, alpha0),
                               2 * (trace_term - depth_term))
    with pytest.raises(ValueError, match="weight must be a finite number >= 0"):
        scoring.weighted_difference(trace_magnitude, depth_mean, -1.0)


def test_frame_statistics_rejects_mismatched_shapes():
    B, C, T, P, M = _traces()
    with pytest.raises(ValueError, match="trace P"):
        eq10.frame_statistics(B, C, T, P[:, :1], M)
    with pytest.raises(ValueError, match="depth M"):
        eq10.frame_statistics(B, C, T, P, M[:1])


def _only_a_positive_alpha0_separates():
    # Both classes share the same depth means d in [0, 1]; trace = d + 0.2 (live) or d + 0.4 (attack).
    # score = (a - 1) d + 0.2 a (live) or + 0.4 a (attack): the classes separate iff 5/6 < a < 5/4.
    depth = np.tile(np.linspace(0.0, 1.0, 11), 2)
    labels = np.repeat([0, 1], 11)
    trace = depth + np.where(labels == 1, 0.4, 0.2)
    return labels, trace, depth


def test_choose_weight_finds_the_separating_weight():
    labels, trace, depth = _only_a_positive_alpha0_separates()
    assert metrics.auc(labels, scoring.weighted_difference(trace, depth, 0.0)) == pytest.approx(0.5)  # depth: chance
    assert metrics.auc(labels, scoring.weighted_difference(trace, depth, 1e6)) < 0.9  # traces alone overlap
    # On the 0.1 grid, 0.9, 1.0, 1.1 and 1.2 separate (AUC 1, EER 0): the smallest wins the tie.
    assert scoring.choose_weight(labels, trace, depth, grid=np.linspace(0.0, 3.0, 31)) == pytest.approx(0.9)
    alpha0 = scoring.choose_weight(labels, trace, depth)  # default scale-aware grid
    assert 5 / 6 < alpha0 < 5 / 4
    assert metrics.auc(labels, scoring.weighted_difference(trace, depth, alpha0)) == 1.0


def test_choose_weight_keeps_zero_when_depth_alone_is_best():
    labels = np.repeat([0, 1], 10)
    depth = np.where(labels == 1, 0.0, 0.8) + np.linspace(0, 0.1, 20)
    trace = np.random.default_rng(0).uniform(0, 1, 20)  # pure noise: any weight on it can only hurt
    assert scoring.choose_weight(labels, trace, depth, grid=[0.0, 0.5, 1.0, 10.0]) == 0.0


def _edit_saved_calibration(path, **changes):
    record = json.loads(path.read_text())
    record.update(changes)
    path.write_text(json.dumps(record))


def _legacy_alpha0_json(path, alpha0, threshold, split):
    """A format-1 alpha0.json exactly as PhySTD runs evaluated before the harness have it."""
    path.write_text(json.dumps({"format_version": 1, "alpha0": alpha0, "threshold": threshold, "split": split,
                                "score": "alpha0 * trace_magnitude - depth_mean",
                                "decision": "attack if score >= threshold"}))


def test_calibration_reads_only_one_set_and_refuses_test(tmp_path):
    # The selection API takes one labelled set and nothing that could be a test set.
    for function in (scoring.choose_weight, scoring.calibrate):
        assert list(inspect.signature(function).parameters) == ["labels", "positive", "negative", "grid"]
    for split in ("test", "Test", "test_fold3", "oulu-P1-test"):
        with pytest.raises(ValueError, match="train or dev"):
            scoring.save_calibration(tmp_path / "calibration.json", PHYSTD, {"alpha0": 1.0}, 0.0, split)
    assert not os.listdir(tmp_path)
    # A file edited by hand to claim a test split is refused when read, in both formats.
    path = tmp_path / "calibration.json"
    scoring.save_calibration(path, PHYSTD, {"alpha0": 1.0}, 0.0, "dev")
    _edit_saved_calibration(path, split="test")
    with pytest.raises(ValueError, match="calibration.json.*not on 'test'"):
        scoring.load_calibration(path, PHYSTD)
    _legacy_alpha0_json(tmp_path / "alpha0.json", 1.0, 0.0, "test")
    with pytest.raises(ValueError, match="alpha0.json.*not on 'test'"):
        scoring.load_calibration(tmp_path / "alpha0.json", PHYSTD)


def test_calibrate_then_apply_to_another_set(tmp_path):
    labels, trace, depth = _only_a_positive_alpha0_separates()
    alpha0, threshold = scoring.calibrate(labels, trace, depth)
    dev_scores = scoring.weighted_difference(trace, depth, alpha0)
    assert threshold == metrics.eer(labels, dev_scores)[1]
    path = tmp_path / scoring.CALIBRATION_FILENAME
    scoring.save_calibration(path, PHYSTD, {"alpha0": alpha0}, threshold, "dev")
    assert scoring.load_calibration(path, PHYSTD) == {"method": "physstd", "params": {"alpha0": alpha0},
                                                      "threshold": threshold, "threshold_rule": {"rule": "eer"},
                                                      "split": "dev"}
    assert json.loads(path.read_text()) == {"format_version": 2, "method": "physstd", "params": {"alpha0": alpha0},
                                            "threshold": threshold, "threshold_rule": {"rule": "eer"}, "split": "dev",
                                            "score": "alpha0 * trace_magnitude - depth_mean",
                                            "decision": "attack if score >= threshold"}
    assert os.listdir(tmp_path) == [scoring.CALIBRATION_FILENAME]  # no temporary file left behind
    # On a shifted "test" set the stored threshold is applied unchanged.
    result = metrics.apcer_bpcer_acer(labels, dev_scores + 0.05, threshold)
    expected_bpcer = np.mean(dev_scores[labels == 0] + 0.05 >= threshold)
    assert result["bpcer"] == expected_bpcer


def test_a_former_alpha0_json_reads_as_a_physstd_calibration(tmp_path):
    assert scoring.run_calibration_path(tmp_path) is None
    _legacy_alpha0_json(tmp_path / "alpha0.json", 2.5, -0.25, "train")
    assert scoring.run_calibration_path(tmp_path) == str(tmp_path / "alpha0.json")
    assert scoring.load_calibration(tmp_path / "alpha0.json", PHYSTD) == {
        "method": "physstd", "params": {"alpha0": 2.5}, "threshold": -0.25, "threshold_rule": {"rule": "eer"},
        "split": "train"}
    # A new calibration.json takes precedence over the former file.
    scoring.save_calibration(tmp_path / "calibration.json", PHYSTD, {"alpha0": 0.5}, 0.1, "dev")
    assert scoring.run_calibration_path(tmp_path) == str(tmp_path / "calibration.json")


def test_load_calibration_errors_name_the_file(tmp_path):
    path = tmp_path / "calibration.json"
    with pytest.raises(ValueError, match=r"calibration.json: calibration \(score parameters, threshold\) file not "
                                         r"found"):
        scoring.load_calibration(path, PHYSTD)
    path.write_text("{not json")
    with pytest.raises(ValueError, match="calibration.json: not valid JSON"):
        scoring.load_calibration(path, PHYSTD)
    path.write_text(json.dumps({"alpha0": 1.0, "threshold": 0.1}))
    with pytest.raises(ValueError, match="calibration.json: expected a JSON object with keys"):
        scoring.load_calibration(path, PHYSTD)
    scoring.save_calibration(path, PHYSTD, {"alpha0": 1.0}, 0.1, "train")
    _edit_saved_calibration(path, threshold="high")
    with pytest.raises(ValueError, match="calibration.json: threshold must be a finite number"):
        scoring.load_calibration(path, PHYSTD)
    _edit_saved_calibration(path, threshold=0.1, method="auxiliary")
    with pytest.raises(ValueError, match="calibration.json: a calibration of method 'auxiliary', but the model is of "
                                         "method 'physstd'"):
        scoring.load_calibration(path, PHYSTD)
    with pytest.raises(ValueError, match="calibration.json: a calibration of method 'auxiliary', but the model is of "
                                         "method 'despoof'"):
        scoring.load_calibration(path, methods.get("despoof"))
    _edit_saved_calibration(path, method="physstd", params={"alpha0": 1.0, "beta": 2.0})
    with pytest.raises(ValueError, match=r"calibration.json: PhySTD's score parameters are \{'alpha0': number\}"):
        scoring.load_calibration(path, PHYSTD)
    _edit_saved_calibration(path, params={"alpha0": -1.0})
    with pytest.raises(ValueError, match="calibration.json: alpha0 must be a finite number >= 0"):
        scoring.load_calibration(path, PHYSTD)
    with pytest.raises(ValueError, match="threshold must be a finite number"):
        scoring.save_calibration(path, PHYSTD, {"alpha0": 1.0}, np.inf, "dev")


def test_video_scores_average_frames_in_order_of_appearance():
    ids = [b"v2", b"v2", "v1", "v3", "v1", "v1"]
    frame_scores = [1.0, 3.0, 0.0, 5.0, 1.0, 2.0]
    labels = [1, 1, 0, 1, 0, 0]
    species = ["print", "print", "live", "replay", "live", "live"]
    video_ids, scores, video_labels, video_species = scoring.video_scores(ids, frame_scores, labels, species)
    assert video_ids.tolist() == ["v2", "v1", "v3"]
    np.testing.assert_allclose(scores, [2.0, 1.0, 5.0])
    assert video_labels.tolist() == [1, 0, 1]
    assert video_species.tolist() == ["print", "live", "replay"]
    assert scoring.video_scores(ids, frame_scores)[2] is None


def test_video_scores_refuse_a_video_with_two_labels():
    with pytest.raises(ValueError, match="video 'b' has frames with different labels: 1 and 0"):
        scoring.video_scores(["a", "b", "b"], [0.0, 1.0, 2.0], labels=[0, 1, 0])
    with pytest.raises(ValueError, match="equal-length"):
        scoring.video_scores(["a", "b"], [0.0])


# --- threshold rules ------------------------------------------------------------------------------------------------
# 200 bona fide dev scores 0.00 .. 1.99 and 5 attacks; BPCER = 1% allows rejecting 2 of the 200 bona fide samples.
RULE_LABELS = np.array([0] * 200 + [1] * 5)
RULE_SCORES = np.concatenate([np.arange(200) / 100, [1.985, 1.975, 1.5, 0.5, 2.5]])


def _bpcer(labels, scores, threshold):
    return np.mean(scores[labels == 0] >= threshold)


def test_bpcer_rule_by_hand():
    # Rejecting the two top bona fide scores (1.99, 1.98) is the budget; the attack at 1.975 lies between 1.98 and
    # the next bona fide score 1.97, so the lowest admissible dev score is 1.975: BPCER 1%, 3 of 5 attacks detected.
    threshold = scoring.choose_threshold(RULE_LABELS, RULE_SCORES, {"rule": "bpcer", "bpcer": 0.01})
    assert threshold == 1.975
    assert _bpcer(RULE_LABELS, RULE_SCORES, threshold) == 0.01
    # Tightest: every lower dev score breaks the budget, so no threshold rejects more dev samples within it.
    lower = RULE_SCORES[RULE_SCORES < threshold]
    assert all(_bpcer(RULE_LABELS, RULE_SCORES, t) > 0.01 for t in lower)
    # Brute force over every threshold that changes a dev decision: the same one.
    candidates = np.unique(np.concatenate([RULE_SCORES, [np.inf]]))
    admissible = [t for t in candidates if _bpcer(RULE_LABELS, RULE_SCORES, t) <= 0.01]
    assert min(admissible) == threshold
    # The default target is 1%, and the rule is not the EER's.
    assert scoring.threshold_rule("bpcer") == {"rule": "bpcer", "bpcer": 0.01}
    assert scoring.choose_threshold(RULE_LABELS, RULE_SCORES) == metrics.eer(RULE_LABELS, RULE_SCORES)[1] != threshold


def test_bpcer_rule_ties_and_edges():
    # A tie at the budget's edge is not split: 1.98 appears twice among the bona fide scores (and once for an attack),
    # rejecting it would reject 3 of 200 (1.5%), so the threshold moves above it and the dev BPCER is 0.5%.
    scores = RULE_SCORES.copy()
    scores[197] = 1.98
    scores[200] = 1.98
    threshold = scoring.choose_threshold(RULE_LABELS, scores, {"rule": "bpcer", "bpcer": 0.01})
    assert threshold == 1.99 and _bpcer(RULE_LABELS, scores, threshold) == 0.005
    # Fewer than 100 bona fide samples: one rejection is already 2%; the threshold is the lowest attack score above
    # every bona fide score...
    labels, few = np.array([0] * 50 + [1, 1]), np.concatenate([np.arange(50) / 50, [0.99, 3.0]])
    assert scoring.choose_threshold(labels, few, {"rule": "bpcer", "bpcer": 0.01}) == 0.99
    # ... and when the top dev score is bona fide, the next float32 above it: finite, nothing in dev rejected.
    few[-1] = 0.5
    few[-2] = 0.25
    threshold = scoring.choose_threshold(labels, few, {"rule": "bpcer", "bpcer": 0.01})
    below = np.nextafter(np.float32(threshold), np.float32(-np.inf))
    assert float(np.float32(threshold)) == threshold and below <= 0.98 < threshold < 0.98 + 1e-7   # the smallest
    assert _bpcer(labels, few, threshold) == 0
    assert metrics.threshold_at_bpcer(labels, few, 0.01) == np.inf   # the unbounded form the TDR uses
    labels, top = np.array([0, 0, 1]), np.array([0.1, 0.7, 0.2])   # float32(0.7) rounds below 0.7: one step up
    threshold = scoring.choose_threshold(labels, top, {"rule": "bpcer", "bpcer": 0.01})
    assert float(np.float32(0.7)) < 0.7 < threshold == float(np.nextafter(np.float32(0.7), np.float32(np.inf)))


def test_threshold_rule_records_and_refusals():
    assert scoring.threshold_rule() == {"rule": "eer"}
    assert scoring.threshold_rule("bpcer", 0.05) == {"rule": "bpcer", "bpcer": 0.05}
    for rule, bpcer, message in (("eer", 0.01, "read only by the bpcer rule"), ("far", None, "unknown threshold rule"),
                                 ("bpcer", 0.0, r"in \(0, 1\)"), ("bpcer", 1.0, r"in \(0, 1\)"),
                                 ("bpcer", True, r"in \(0, 1\)")):
        with pytest.raises(ValueError, match=message):
            scoring.threshold_rule(rule, bpcer)
    assert scoring.describe_rule({"rule": "bpcer", "bpcer": 0.01}) == "BPCER = 1%"
    assert scoring.describe_rule({"rule": "eer"}) == "EER"


def test_the_rule_is_written_into_the_calibration_file_and_old_files_load_as_eer(tmp_path):
    path = tmp_path / scoring.CALIBRATION_FILENAME
    rule = {"rule": "bpcer", "bpcer": 0.01}
    scoring.save_calibration(path, PHYSTD, {"alpha0": 1.0}, 1.975, "dev", rule)
    assert json.loads(path.read_text())["threshold_rule"] == rule
    assert scoring.load_calibration(path, PHYSTD)["threshold_rule"] == rule
    # A format-2 file written before threshold rules existed has no key: it was an EER calibration.
    record = json.loads(path.read_text())
    del record["threshold_rule"]
    path.write_text(json.dumps(record))
    loaded = scoring.load_calibration(path, PHYSTD)
    assert (loaded["threshold_rule"], loaded["threshold"]) == ({"rule": "eer"}, 1.975)
    for bad in ({"rule": "bpcer", "bpcer": 2}, {"rule": "eer", "extra": 1}, "bpcer"):
        _edit_saved_calibration(path, threshold_rule=bad)
        with pytest.raises(ValueError, match="calibration.json"):
            scoring.load_calibration(path, PHYSTD)
    # Exports carry the rule for the reader; an info record without one is an EER export.
    assert scoring.export_rule({"threshold": 0.3}, "info") == {"rule": "eer"}
    assert scoring.export_rule({"threshold_rule": rule}, "info") == rule

