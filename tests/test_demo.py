"""`make demo` end to end at toy size (N = 32, 3 identities, 2 training steps), and its failure reporting."""
import json
import os
import re

import numpy as np
import pytest

from deploy_fixtures import png_size
from physstd import demo

TOY = ["--train_flag=--image_size=32", "--train_flag=--synthetic_identities=3", "--train_flag=--num_steps=2",
       "--train_flag=--eval_every=0", "--train_flag=--checkpoint_every=1", "--train_flag=--log_every=1",
       "--train_flag=--image_summary_every=0", "--train_flag=--summary_every=1",
       "--train_flag=--nojit_compile"]   # the demo compiles with XLA; two toy steps do not pay for it


@pytest.fixture(scope="module")
def toy_demo(tmp_path_factory):
    output = tmp_path_factory.mktemp("demo")
    status = demo.main([f"--output_dir={output}", *TOY])
    return output, status


def test_every_stage_runs_and_the_report_says_what_it_is(toy_demo):
    output, status = toy_demo
    report = (output / "report.md").read_text()
    assert "synthetic smoke test" in report
    stages = dict(re.findall(r"^\| (\w+) \| (ok|FAILED|skipped) \|", report, flags=re.M))
    assert stages == {name: "ok" for name in ("generate", "train", "evaluate", "recovery", "classify", "export",
                                              "reload", "figures")}
    assert "Spoof medium classification" in report
    checks = re.findall(r"^\| (.+?) \| (pass|FAIL) \| (.+?) \|$", report, flags=re.M)
    assert len(checks) == 3   # AUC, recovery on print and replay (the toy set has both), reload
    # The exit status follows the checks: 0 only when all pass (2 training steps rarely reach AUC 0.95).
    assert status == (1 if any(result == "FAIL" for _, result, _ in checks) else 0)
    reload_check = [c for c in checks if c[0].startswith("fresh-process")][0]
    assert reload_check[1] == "pass" and float(reload_check[2]) <= demo.RELOAD_TOLERANCE


def test_outputs_exist_in_their_documented_places(toy_demo):
    output, _ = toy_demo
    assert os.path.isfile(output / "saved_model" / "saved_model.pb")
    assert os.path.isfile(output / "run" / "alpha0.json")
    assert os.path.isfile(output / "eval" / "scores.csv") and os.path.isfile(output / "eval" / "results.json")
    classification = json.loads((output / "trace_classification.json").read_text())
    for name in ("traces", "images"):
        matrix = np.array(classification[name]["confusion"])
        assert matrix.sum() == classification["test_samples"]
        assert np.isclose(classification[name]["accuracy"], np.trace(matrix) / matrix.sum())
    recovery = json.loads((output / "trace_recovery.json").read_text())
    assert "all spoof types" in recovery and len(recovery) >= 2
    assert recovery["all spoof types"]["frames"] == sum(v["frames"] for k, v in recovery.items()
                                                        if k != "all spoof types")
    for values in recovery.values():
        assert -1.0 <= values["correlation"] <= 1.0 and values["pixels"] > 0
        assert set(values["bands"]) == set(demo.BANDS)
        assert all(-1.0 <= c <= 1.0 for c in values["bands"].values())
        assert set(values["band_energy"]) == set(demo.BANDS) and all(e >= 0 for e in values["band_energy"].values())
    # The types with an inpainting region (and only those) report how well P finds it.
    assert {name for name, values in recovery.items() if "mask" in values} <= {"paper_glasses", "partial_paper"}
    for name in ("fig8_trace_components", "fig9_disentanglement", "fig10_spoof_synthesis",
                 "fig12_progressive_removal", "trace_truth_vs_recovered"):
        width, height = png_size(output / "figures" / f"{name}.png")
        assert width > 32 and height > 32


def test_a_failing_stage_skips_its_dependents_and_exits_non_zero(toy_demo, monkeypatch):
    output, _ = toy_demo

    def broken(self):
        raise RuntimeError("injected failure")
    monkeypatch.setattr(demo.Demo, "train", broken)
    assert demo.main([f"--output_dir={output}", *TOY]) == 1
    report = (output / "report.md").read_text()
    assert "| train | FAILED |" in report and "injected failure" in report
    for name in ("evaluate", "recovery", "classify", "export", "reload", "figures"):
        assert f"| {name} | skipped |" in report
    assert "| generate | ok |" in report


def test_a_missing_flagfile_is_a_usage_error(tmp_path):
    assert demo.main([f"--output_dir={tmp_path}", f"--flagfile={tmp_path}/none.flags"]) == 2


def test_recovery_metrics_match_numpy_over_the_pooled_pixels():
    rng = np.random.default_rng(3)
    frames = [(rng.normal(size=n), rng.normal(size=n)) for n in (50, 80, 30)]
    frames = [(0.3 * t + 0.1 * p, t) for p, t in frames]   # recovered = part of the truth + noise
    sums = np.zeros(8)
    for predicted, true in frames:
        demo.accumulate_recovery(sums, predicted, true)
    result = demo.recovery_metrics(sums)
    p, t = np.concatenate([f[0] for f in frames]), np.concatenate([f[1] for f in frames])
    assert (result["frames"], result["pixels"]) == (3, 160)
    np.testing.assert_allclose(result["correlation"], np.corrcoef(p, t)[0, 1], rtol=1e-9)
    np.testing.assert_allclose(result["psnr"], -10 * np.log10(np.mean((p - t) ** 2)), rtol=1e-9)
    np.testing.assert_allclose(result["psnr_without_removal"], -10 * np.log10(np.mean(t ** 2)), rtol=1e-9)


def test_mask_metrics_match_set_counts():
    rng = np.random.default_rng(5)
    pairs = [(rng.random((6, 7)) > 0.5, rng.random((6, 7)) > 0.6) for _ in range(3)]
    sums = np.zeros(4)
    for estimated, true in pairs:
        demo.accumulate_mask(sums, estimated, true)
    result = demo.mask_metrics(sums)
    estimated, true = np.stack([p[0] for p in pairs]), np.stack([p[1] for p in pairs])
    both = np.sum(estimated & true)
    assert result["frames"] == 3
    np.testing.assert_allclose(result["iou"], both / np.sum(estimated | true))
    np.testing.assert_allclose(result["precision"], both / estimated.sum())
    np.testing.assert_allclose(result["recall"], both / true.sum())
    assert demo.mask_metrics(np.zeros(4)) == {"frames": 0, "iou": 0.0, "precision": 0.0, "recall": 0.0}


def test_recovery_report_lists_bands_and_masks():
    videos = {"videos": 10, "positive": 10, "sign_p": 0.5 ** 10, "median": 0.4, "paired": 9, "beats_other": 9,
              "paired_sign_p": 0.5 ** 9}
    values = {"frames": 2, "pixels": 10, "correlation": 0.5, "other_video_correlation": 0.2, "psnr": 30.0,
              "psnr_without_removal": 20.0, "bands": {"low": 0.6, "mid": 0.2, "high": -0.1},
              "band_energy": {"low": 0.8, "mid": 0.15, "high": 0.05}, "videos": videos}
    medium_only = dict(videos, beats_other=5, paired_sign_p=0.5)
    chance = dict(videos, positive=6, sign_p=0.377, beats_other=4, paired_sign_p=0.746)
    recovery = {"print": values,
                "replay": dict(values, correlation=0.4, other_video_correlation=0.38, videos=medium_only),
                "cosmetic": dict(values, correlation=0.1, other_video_correlation=None, videos=chance),
                "partial_paper": dict(values, correlation=0.1, mask={"frames": 2, "iou": 0.25, "precision": 0.5,
                                                                     "recall": 0.4}, videos=chance),
                "all spoof types": values}
    text = "\n".join(demo.recovery_report(recovery))
    assert ("| print | 2 | 0.500 | 0.200 | 0.600 | 0.200 | -0.100 | 80 / 15 / 5 | 30.0 | 20.0 | 10/10 (0.00098) "
            "| 9/9 (0.002) |") in text
    assert "| cosmetic | 2 | 0.100 | - | 0.600 |" in text and "| 6/10 (0.38) | 4/9 (0.75) |" in text
    assert "| partial_paper | 2 | 0.250 | 0.500 | 0.400 |" in text
    assert f"sign test p < {demo.SIGNIFICANCE}): print, replay of 4" in text
    # replay's videos beat their other-video pairing only half the time: it follows the medium, not the frame.
    assert "the trace follows the frame, not only the medium): print." in text


def test_video_statistics_match_hand_counts_and_the_binomial_tail():
    from math import comb

    result = demo.video_statistics([0.2, -0.1, 0.3, 0.4], [None, 0.0, 0.5, 0.1])
    # 3 of 4 positive: P(X >= 3 | n = 4, 1/2) = (4 + 1) / 16; 1 of 3 pairs beats its other video: 7 / 8.
    assert result == {"videos": 4, "positive": 3, "sign_p": 5 / 16, "median": 0.25, "paired": 3, "beats_other": 1,
                      "paired_sign_p": 7 / 8}
    many = demo.video_statistics(np.linspace(-0.1, 0.9, 12), [0.0] * 12)
    assert many["positive"] == 10 and many["beats_other"] == 10
    np.testing.assert_allclose(many["sign_p"], sum(comb(12, k) for k in (10, 11, 12)) / 2 ** 12)
    assert demo.video_statistics([], [])["sign_p"] == 1.0


def test_the_recovery_check_pools_print_and_replay_videos_only():
    from math import comb

    def counts(videos, positive):
        return {"videos": {"videos": videos, "positive": positive}}
    result = {"replay": counts(11, 9), "print": counts(11, 11), "paper_mask": counts(12, 12),
              "all spoof types": counts(34, 32)}
    whole = demo.whole_face_recovery(result)
    assert (whole["types"], whole["videos"], whole["positive"]) == (["replay", "print"], 22, 20)
    # P(X >= 20 | n = 22, 1/2) = (C(22,20) + C(22,21) + C(22,22)) / 2^22 = 254 / 4194304
    np.testing.assert_allclose(whole["sign_p"], (comb(22, 20) + 22 + 1) / 2 ** 22)
    assert whole["sign_p"] < demo.SIGNIFICANCE
    # 16 of 22 is not enough at p < 0.01 (P(X >= 16) = 0.026), 17 is (0.0085).
    assert demo.whole_face_recovery({"replay": counts(11, 5), "print": counts(11, 11)})["sign_p"] > demo.SIGNIFICANCE
    assert demo.whole_face_recovery({"replay": counts(11, 6), "print": counts(11, 11)})["sign_p"] < demo.SIGNIFICANCE
    assert demo.whole_face_recovery({"cosmetic": counts(12, 12)}) is None


def _oracle_generator(images, traces, masks, image_size, signs=None):
    """A stand-in generator whose T is the true trace of the matching frame (times signs[frame], default 1) and
    whose P is the true mask."""
    import tensorflow as tf

    from physstd.models import GeneratorOutput

    known = tf.constant(images.reshape(len(images), -1))
    if signs is not None:
        traces = traces * np.asarray(signs, np.float32)[:, None, None, None]
    traces, masks = tf.constant(traces), tf.constant(masks)

    def generator(batch, training=False):
        flat = tf.reshape(batch, (tf.shape(batch)[0], 1, -1))
        match = tf.argmin(tf.reduce_sum(tf.abs(flat - known[None]), axis=-1), axis=1)
        zeros = tf.zeros_like(batch)
        depth = tf.zeros((tf.shape(batch)[0], image_size // 8, image_size // 8, 1))
        return GeneratorOutput(B=zeros, C=zeros, T=tf.gather(traces, match), P=tf.gather(masks, match),
                               I_P=batch, M=depth, S=zeros)
    return generator


def test_a_perfect_generator_recovers_every_band_and_region(toy_demo):
    from benchmarks.trace_ceiling import load_frames
    from physstd.data import prepared
    from physstd.models import ModelConfig

    output, _ = toy_demo
    root = output / "data" / "synthetic32"
    ids = [row["video_id"] for row in prepared.read_index(str(root))[0]]
    images, traces, masks, labels = load_frames(str(root), ids, 32)
    generator = _oracle_generator(images, traces, masks, 32)
    result = demo.recovery_on_split(generator, ModelConfig(image_size=32, width=0.25), str(root), ids)
    assert result["all spoof types"]["frames"] == int((labels == 1).sum())
    for name, values in result.items():
        if name in ("print", "replay", "paper_mask", "cosmetic", "all spoof types"):
            assert values["correlation"] > 1 - 1e-6, name
            assert all(c > 1 - 1e-5 for c in values["bands"].values()), (name, values["bands"])
            assert values["psnr"] > 100
        if "mask" in values:
            assert values["mask"] == {"frames": values["frames"], "iou": 1.0, "precision": 1.0, "recall": 1.0}
    _check_other_video_pairing(result, str(root), ids, traces, masks)
    _check_video_statistics(generator, images, traces, masks, str(root), ids)


def _check_video_statistics(generator, images, traces, masks, root, ids):
    """Per-video counts: every video of the oracle correlates (+1) and beats its other-video pairing; negating
    the recovered trace of one video that has a pairing takes exactly one off each count of its type."""
    from physstd.data import pipeline, spoof_types
    from physstd.models import ModelConfig

    frames = [(str(b), spoof_types.NAMES[int(t)], bool(l)) for batch in pipeline.eval_dataset(root, ids, 32, 64)
              for b, t, l in zip(batch["video_id"].numpy(), batch["spoof_type"].numpy(), batch["label"].numpy())]
    videos = {}
    for video, name, spoof in frames:
        if spoof and video not in videos.setdefault(name, []):
            videos[name].append(video)
    result = demo.recovery_on_split(generator, ModelConfig(image_size=32, width=0.25), root, ids)
    for name, listed in videos.items():
        assert result[name]["videos"]["videos"] == result[name]["videos"]["positive"] == len(listed), name
        assert result[name]["videos"]["paired"] == result[name]["videos"]["beats_other"] == len(listed) - 1, name
    total = sum(len(v) for v in videos.values())
    assert result["all spoof types"]["videos"]["positive"] == total
    whole_face = len(videos.get("print", [])) + len(videos.get("replay", []))
    whole = demo.whole_face_recovery(result)
    assert whole["positive"] == whole["videos"] == whole_face
    name = next(name for name, listed in videos.items() if len(listed) >= 2 and name in ("print", "replay"))
    flipped = videos[name][1]
    signs = [-1.0 if video == flipped else 1.0 for video, _, _ in frames]
    negated = demo.recovery_on_split(_oracle_generator(images, traces, masks, 32, signs),
                                     ModelConfig(image_size=32, width=0.25), root, ids)
    counts = negated[name]["videos"]
    assert (counts["positive"], counts["beats_other"]) == (len(videos[name]) - 1, len(videos[name]) - 2)
    assert negated["all spoof types"]["videos"]["positive"] == total - 1
    assert demo.whole_face_recovery(negated)["positive"] == whole_face - 1


def _check_other_video_pairing(result, root, ids, traces, masks):
    """The oracle's other-video correlation against numpy: each spoof frame's true trace (= its recovered one)
    paired with the true trace of the last frame of the latest earlier video of its type, on the pixels outside
    both true inpainting regions."""
    from physstd.data import pipeline, spoof_types

    order = [(str(b), int(t), bool(l)) for batch in pipeline.eval_dataset(root, ids, 32, 64)
             for b, t, l in zip(batch["video_id"].numpy(), batch["spoof_type"].numpy(), batch["label"].numpy())]
    assert len(order) == len(traces)
    keep = np.broadcast_to(masks == 0, traces.shape)
    pairs = {}
    for i, (video, type_id, spoof) in enumerate(order):
        if not spoof:
            continue
        earlier = [j for j in range(i) if order[j][1] == type_id and order[j][2] and order[j][0] != video]
        if earlier:
            name = spoof_types.NAMES[type_id]
            pairs.setdefault(name, []).append((i, earlier[-1]))
            pairs.setdefault("all spoof types", []).append((i, earlier[-1]))
    assert pairs, "the toy set should hold two videos of some spoof type"
    for name, values in result.items():
        if name not in pairs:
            assert values["other_video_correlation"] is None, name
            continue
        recovered = np.concatenate([traces[i][keep[i] & keep[j]] for i, j in pairs[name]])
        other = np.concatenate([traces[j][keep[i] & keep[j]] for i, j in pairs[name]])
        np.testing.assert_allclose(values["other_video_correlation"], np.corrcoef(recovered, other)[0, 1],
                                   atol=1e-6, err_msg=name)
        assert values["other_video_correlation"] < 0.99, name   # another video's trace is not this frame's


def test_supervised_ceiling_fits_the_true_traces(toy_demo):
    from benchmarks.trace_ceiling import load_frames, train_supervised
    from physstd import trace
    from physstd.data import prepared
    from physstd.models import ModelConfig

    output, _ = toy_demo
    root = output / "data" / "synthetic32"
    ids = [row["video_id"] for row in prepared.read_index(str(root))[0]]
    images, traces, masks, labels = load_frames(str(root), ids, 32)
    keep = (masks == 0).astype(np.float32)
    config = ModelConfig(image_size=32, width=0.25)

    def error(generator):
        # Batch statistics: 60 steps barely move BatchNorm's running averages.
        predicted = trace.additive_trace(generator(images, training=True), config).numpy()
        return float(np.mean(keep * (predicted - traces) ** 2))
    untrained = train_supervised(images, traces, masks, labels, config, 0, 8, 1e-3, 0, False)
    trained = train_supervised(images, traces, masks, labels, config, 60, 8, 1e-3, 0, False)
    assert error(trained) < 0.5 * error(untrained)
