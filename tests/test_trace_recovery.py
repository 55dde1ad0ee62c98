"""Trace recovery (physstd.eval.trace_recovery): its statistics against numpy and hand counts, an oracle trace model
that recovers every band and region exactly, the report, and the CLI (outputs and its one-line usage errors).

One tiny synthetic set (N = 32, 3 identities, 2 frames per video, every spoof type) is generated once for the module;
its truth.npz gives the oracle its traces."""
import glob
import json
import os
import subprocess
import sys

import numpy as np
import pytest

from deploy_fixtures import make_run_dir, write_dataset
from physstd.data import prepared, synthetic
from physstd.eval import trace_recovery

N = 32
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture(scope="module")
def synthetic_root(tmp_path_factory):
    root = str(tmp_path_factory.mktemp("recovery") / "synthetic32")
    synthetic.generate(root, N, num_identities=3, frames_per_video=2, live_videos=1, seed=0, workers=1)
    return root


@pytest.fixture(scope="module")
def frames(synthetic_root):
    """(video ids of every video, images, true traces, true masks, labels) of every frame, in pipeline order."""
    from benchmarks.trace_ceiling import load_frames

    ids = [row["video_id"] for row in prepared.read_index(synthetic_root)[0]]
    return (ids, *load_frames(synthetic_root, ids, N))


def _bands():
    from physstd.models import ModelConfig

    return ModelConfig(image_size=N, width=0.25).trace_bands


def _oracle(images, traces, masks, signs=None, region=True):
    """A TraceModel whose additive trace is the true trace of the matching frame (times signs[frame], default 1)
    and whose region is the true mask (None with region=False)."""
    import tensorflow as tf

    known = tf.constant(images.reshape(len(images), -1))
    if signs is not None:
        traces = traces * np.asarray(signs, np.float32)[:, None, None, None]
    traces, masks = tf.constant(traces), tf.constant(masks)

    def estimate(batch):
        flat = tf.reshape(batch, (tf.shape(batch)[0], 1, -1))
        match = tf.argmin(tf.reduce_sum(tf.abs(flat - known[None]), axis=-1), axis=1)
        return tf.gather(traces, match), (tf.gather(masks, match) if region else None)
    return trace_recovery.TraceModel(estimate, N, _bands())


def test_recovery_metrics_match_numpy_over_the_pooled_pixels():
    rng = np.random.default_rng(3)
    frames = [(rng.normal(size=n), rng.normal(size=n)) for n in (50, 80, 30)]
    frames = [(0.3 * t + 0.1 * p, t) for p, t in frames]   # recovered = part of the truth + noise
    sums = np.zeros(8)
    for predicted, true in frames:
        trace_recovery.accumulate_recovery(sums, predicted, true)
    result = trace_recovery.recovery_metrics(sums)
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
        trace_recovery.accumulate_mask(sums, estimated, true)
    result = trace_recovery.mask_metrics(sums)
    estimated, true = np.stack([p[0] for p in pairs]), np.stack([p[1] for p in pairs])
    both = np.sum(estimated & true)
    assert result["frames"] == 3
    np.testing.assert_allclose(result["iou"], both / np.sum(estimated | true))
    np.testing.assert_allclose(result["precision"], both / estimated.sum())
    np.testing.assert_allclose(result["recall"], both / true.sum())
    assert trace_recovery.mask_metrics(np.zeros(4)) == {"frames": 0, "iou": 0.0, "precision": 0.0, "recall": 0.0}


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
    text = "\n".join(trace_recovery.recovery_report(recovery))
    assert ("| print | 2 | 0.500 | 0.200 | 0.600 | 0.200 | -0.100 | 80 / 15 / 5 | 30.0 | 20.0 | 10/10 (0.00098) "
            "| 9/9 (0.002) |") in text
    assert "| cosmetic | 2 | 0.100 | - | 0.600 |" in text and "| 6/10 (0.38) | 4/9 (0.75) |" in text
    assert "| partial_paper | 2 | 0.250 | 0.500 | 0.400 |" in text
    assert f"sign test p < {trace_recovery.SIGNIFICANCE}): print, replay of 4" in text
    # replay's videos beat their other-video pairing only half the time: it follows the medium, not the frame.
    assert "the trace follows the frame, not only the medium): print." in text


def test_video_statistics_match_hand_counts_and_the_binomial_tail():
    from math import comb

    result = trace_recovery.video_statistics([0.2, -0.1, 0.3, 0.4], [None, 0.0, 0.5, 0.1])
    # 3 of 4 positive: P(X >= 3 | n = 4, 1/2) = (4 + 1) / 16; 1 of 3 pairs beats its other video: 7 / 8.
    assert result == {"videos": 4, "positive": 3, "sign_p": 5 / 16, "median": 0.25, "paired": 3, "beats_other": 1,
                      "paired_sign_p": 7 / 8}
    many = trace_recovery.video_statistics(np.linspace(-0.1, 0.9, 12), [0.0] * 12)
    assert many["positive"] == 10 and many["beats_other"] == 10
    np.testing.assert_allclose(many["sign_p"], sum(comb(12, k) for k in (10, 11, 12)) / 2 ** 12)
    assert trace_recovery.video_statistics([], [])["sign_p"] == 1.0


def test_the_recovery_check_pools_print_and_replay_videos_only():
    from math import comb

    def counts(videos, positive):
        return {"videos": {"videos": videos, "positive": positive}}
    result = {"replay": counts(11, 9), "print": counts(11, 11), "paper_mask": counts(12, 12),
              "all spoof types": counts(34, 32)}
    whole = trace_recovery.whole_face_recovery(result)
    assert (whole["types"], whole["videos"], whole["positive"]) == (["replay", "print"], 22, 20)
    # P(X >= 20 | n = 22, 1/2) = (C(22,20) + C(22,21) + C(22,22)) / 2^22 = 254 / 4194304
    np.testing.assert_allclose(whole["sign_p"], (comb(22, 20) + 22 + 1) / 2 ** 22)
    assert whole["sign_p"] < trace_recovery.SIGNIFICANCE
    # 16 of 22 is not enough at p < 0.01 (P(X >= 16) = 0.026), 17 is (0.0085).
    level = trace_recovery.SIGNIFICANCE
    assert trace_recovery.whole_face_recovery({"replay": counts(11, 5), "print": counts(11, 11)})["sign_p"] > level
    assert trace_recovery.whole_face_recovery({"replay": counts(11, 6), "print": counts(11, 11)})["sign_p"] < level
    assert trace_recovery.whole_face_recovery({"cosmetic": counts(12, 12)}) is None


def test_a_perfect_trace_model_recovers_every_band_and_region(synthetic_root, frames):
    ids, images, traces, masks, labels = frames
    result = trace_recovery.recovery_on_split(_oracle(images, traces, masks), synthetic_root, ids)
    assert result["all spoof types"]["frames"] == int((labels == 1).sum())
    assert set(result) == set(synthetic.SPOOF_TYPES) | {"all spoof types"}
    for name, values in result.items():
        if name in ("print", "replay", "paper_mask", "cosmetic", "all spoof types"):
            assert values["correlation"] > 1 - 1e-6, name
            assert all(c > 1 - 1e-5 for c in values["bands"].values()), (name, values["bands"])
            assert values["psnr"] > 100
        if "mask" in values:
            assert values["mask"] == {"frames": values["frames"], "iou": 1.0, "precision": 1.0, "recall": 1.0}
    assert {name for name, values in result.items() if "mask" in values} == {"paper_glasses", "partial_paper"}
    _check_other_video_pairing(result, synthetic_root, ids, traces, masks)
    _check_video_statistics(images, traces, masks, synthetic_root, ids)
    # A method without an inpainting region is scored the same way, without the region's agreement.
    no_region = trace_recovery.recovery_on_split(_oracle(images, traces, masks, region=False), synthetic_root, ids)
    assert not any("mask" in values for values in no_region.values())
    assert no_region["print"]["correlation"] == result["print"]["correlation"]


def _pipeline_order(root, ids):
    from physstd.data import pipeline

    return [(str(b), int(t), bool(l)) for batch in pipeline.eval_dataset(root, ids, N, 64)
            for b, t, l in zip(batch["video_id"].numpy(), batch["spoof_type"].numpy(), batch["label"].numpy())]


def _check_video_statistics(images, traces, masks, root, ids):
    """Per-video counts: every video of the oracle correlates (+1) and beats its other-video pairing; negating
    the recovered trace of one video that has a pairing takes exactly one off each count of its type."""
    from physstd.data import spoof_types

    order = _pipeline_order(root, ids)
    videos = {}
    for video, type_id, spoof in order:
        name = spoof_types.NAMES[type_id]
        if spoof and video not in videos.setdefault(name, []):
            videos[name].append(video)
    result = trace_recovery.recovery_on_split(_oracle(images, traces, masks), root, ids)
    for name, listed in videos.items():
        assert result[name]["videos"]["videos"] == result[name]["videos"]["positive"] == len(listed), name
        assert result[name]["videos"]["paired"] == result[name]["videos"]["beats_other"] == len(listed) - 1, name
    total = sum(len(v) for v in videos.values())
    assert result["all spoof types"]["videos"]["positive"] == total
    whole_face = len(videos.get("print", [])) + len(videos.get("replay", []))
    whole = trace_recovery.whole_face_recovery(result)
    assert whole["positive"] == whole["videos"] == whole_face
    name = next(name for name, listed in videos.items() if len(listed) >= 2 and name in ("print", "replay"))
    flipped = videos[name][1]
    signs = [-1.0 if video == flipped else 1.0 for video, _, _ in order]
    negated = trace_recovery.recovery_on_split(_oracle(images, traces, masks, signs), root, ids)
    counts = negated[name]["videos"]
    assert (counts["positive"], counts["beats_other"]) == (len(videos[name]) - 1, len(videos[name]) - 2)
    assert negated["all spoof types"]["videos"]["positive"] == total - 1
    assert trace_recovery.whole_face_recovery(negated)["positive"] == whole_face - 1


def _check_other_video_pairing(result, root, ids, traces, masks):
    """The oracle's other-video correlation against numpy: each spoof frame's true trace (= its recovered one)
    paired with the true trace of the last frame of the latest earlier video of its type, on the pixels outside
    both true inpainting regions."""
    from physstd.data import spoof_types

    order = _pipeline_order(root, ids)
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


# --- the CLI ------------------------------------------------------------------------------------------------------
def test_cli_scores_a_run_and_writes_json_and_markdown(synthetic_root, tmp_path, capsys):
    from physstd.data import protocols
    from physstd.methods.physstd import load_generator

    run = str(tmp_path / "run")
    make_run_dir(run, synthetic_root, "identity", size=N)
    assert trace_recovery.main([f"--run_dir={run}"]) == 0
    output = os.path.join(run, "eval", "trace_recovery")   # the default output folder
    record = json.loads(open(os.path.join(output, "trace_recovery.json")).read())
    assert record["format_version"] == trace_recovery.RECORD_FORMAT_VERSION
    assert (record["protocol"], record["split"], record["fold"]) == ("identity", "test", None)
    assert record["run_dir"] == os.path.abspath(run) and record["data_root"] == os.path.abspath(synthetic_root)
    # The same numbers as recovery_on_split with the run's generator as the TraceModel, on the test split.
    generator, model_config = load_generator(run)
    test_ids = protocols.load_split(os.path.join(synthetic_root, "protocols"), "identity", "test")
    expected = trace_recovery.recovery_on_split(trace_recovery.physstd_trace_model(generator, model_config),
                                                synthetic_root, test_ids)
    assert list(record["types"]) == list(expected)
    for name, values in expected.items():
        assert record["types"][name]["correlation"] == pytest.approx(values["correlation"], abs=1e-9), name
        assert record["types"][name]["videos"] == values["videos"], name
    assert record["whole_face"] == trace_recovery.whole_face_recovery(expected)
    markdown = open(os.path.join(output, "trace_recovery.md")).read()
    print_row = next(line for line in markdown.splitlines() if line.startswith("| print |"))
    assert f"| {expected['print']['correlation']:.3f} |" in print_row
    assert "## Trace recovery on the test spoofs" in markdown and "written" in capsys.readouterr().out
    # Another split and output folder.
    other = tmp_path / "train_split"
    assert trace_recovery.main([f"--run_dir={run}", "--split=train", f"--output_dir={other}"]) == 0
    assert json.loads((other / "trace_recovery.json").read_text())["split"] == "train"
    assert "## Trace recovery on the train spoofs" in (other / "trace_recovery.md").read_text()


def _one_error_line(capsys, *words):
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: "), err
    assert all(word in err[0] for word in words), (err, words)


def test_cli_bad_input_is_one_error_line_and_status_2(synthetic_root, tmp_path, capsys):
    run = str(tmp_path / "run")
    make_run_dir(run, synthetic_root, "identity", size=N)
    assert trace_recovery.main([f"--run_dir={tmp_path}/missing"]) == 2
    _one_error_line(capsys, "missing", "flags.json")
    assert trace_recovery.main([f"--run_dir={run}", "--protocol=p9"]) == 2
    _one_error_line(capsys, "p9")
    assert trace_recovery.main([f"--run_dir={run}", "--split=validation"]) == 2
    _one_error_line(capsys, "validation")
    # A prepared set without truth.npz (as every real dataset is): nothing to compare with.
    data = str(tmp_path / "no_truth")
    write_dataset(data, size=N)
    for path in glob.glob(os.path.join(data, "**", prepared.TRUTH_FILE), recursive=True):
        os.remove(path)
    assert trace_recovery.main([f"--run_dir={run}", f"--data_root={data}", "--protocol=p1"]) == 2
    _one_error_line(capsys, "truth.npz", data)
    assert not os.path.exists(os.path.join(run, "eval", "trace_recovery"))   # nothing written on an error


def test_cli_usage_errors_in_a_fresh_process():
    for arguments in ([], ["--run_dir"], ["--nonsense=1"]):
        run = subprocess.run([sys.executable, "-m", "physstd.eval.trace_recovery", *arguments], cwd=ROOT,
                             capture_output=True, text=True, timeout=120)
        lines = run.stderr.strip().splitlines()
        assert run.returncode == 2 and len(lines) == 1 and lines[0].startswith("error: "), (arguments, run.stderr)
