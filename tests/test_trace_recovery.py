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
from physstd.methods.base import TraceModel

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
    from physstd.eval.trace_ceiling import load_frames

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
    return TraceModel(estimate, N, _bands())


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


def test_recovery_report_lists_bands_references_frame_test_and_masks():
    videos = {"videos": 10, "positive": 10, "sign_p": 0.5 ** 10, "median": 0.4}
    chance = dict(videos, positive=6, sign_p=0.377)
    refs = {"zero": {"correlation": 0.0, "specificity": 0.0, "psnr": 20.0},
            "template": {"correlation": 0.45, "specificity": 0.01, "psnr": 25.0},
            "colour map": {"correlation": 0.8, "specificity": 0.3, "psnr": 28.0},
            "negated image": {"correlation": 0.7, "specificity": 0.25, "psnr": 10.0}}
    follows = {"videos": 10, "template": {"beats": 10, "p": 0.5 ** 10, "excess": 0.2},
               "colour map": {"beats": 3, "p": 0.95, "excess": -0.1}, "follows_frame": True}
    medium_only = dict(follows, template={"beats": 5, "p": 0.62, "excess": 0.0}, follows_frame=False)
    values = {"frames": 2, "pixels": 10, "correlation": 0.5, "psnr": 30.0, "psnr_without_removal": 20.0,
              "bands": {"low": 0.6, "mid": 0.2, "high": -0.1}, "band_energy": {"low": 0.8, "mid": 0.15, "high": 0.05},
              "videos": videos, "specificity": 0.21, "references": refs, "frame_test": follows,
              "effect": {"correlation": -0.05, "videos": chance}}
    recovery = {"print": values,
                "replay": dict(values, correlation=0.4, frame_test=medium_only),
                "partial_paper": dict(values, correlation=0.1, mask={"frames": 2, "iou": 0.25, "precision": 0.5,
                                                                     "recall": 0.4}, videos=chance),
                "all spoof types": values}
    text = "\n".join(trace_recovery.recovery_report(recovery))
    assert ("| print | 2 | 0.500 | 0.600 | 0.200 | -0.100 | 80 / 15 / 5 | 30.0 | 20.0 | 10/10 (0.00098) "
            "| 0.210 |") in text
    assert "| print | 0.500 | 0.000 | 0.450 | 0.800 | 0.700 |" in text   # the method next to the references
    assert ("| print | 0.210 | 0.010 | 0.300 | 0.250 | 10/10 (0.00098), +0.200 | 3/10 (0.95), -0.100 | yes |"
            in text)
    assert "| replay | 0.210 | 0.010 | 0.300 | 0.250 | 5/10 (0.62), +0.000 | 3/10 (0.95), -0.100 | no |" in text
    assert "Types whose trace follows the frame: print, partial_paper." in text
    assert "| print | 0.500 | -0.050 | 6/10 (0.38) |" in text   # T_A next to the overall effect
    assert "| partial_paper | 2 | 0.250 | 0.500 | 0.400 |" in text
    assert f"sign test p < {trace_recovery.SIGNIFICANCE}): print, replay of 3" in text


def test_video_statistics_match_hand_counts_and_the_binomial_tail():
    from math import comb

    result = trace_recovery.video_statistics([0.2, -0.1, 0.3, 0.4])
    # 3 of 4 positive: P(X >= 3 | n = 4, 1/2) = (4 + 1) / 16.
    assert result == {"videos": 4, "positive": 3, "sign_p": 5 / 16, "median": 0.25}
    many = trace_recovery.video_statistics(np.linspace(-0.1, 0.9, 12))
    assert many["positive"] == 10
    np.testing.assert_allclose(many["sign_p"], sum(comb(12, k) for k in (10, 11, 12)) / 2 ** 12)
    assert trace_recovery.video_statistics([])["sign_p"] == 1.0


def _toy_frames(seed=0, videos=4, frames=3, size=6):
    """SpoofFrames of one type ('print') with `videos` videos: random images, a true trace per video that is a
    video-specific pattern plus a shared one, and a true region on the first frame of each video."""
    rng = np.random.default_rng(seed)
    shared = rng.normal(size=(size, size, 3))
    images, traces, masks, ids = [], [], [], []
    for v in range(videos):
        own = rng.normal(size=(size, size, 3))
        for k in range(frames):
            images.append(rng.random((size, size, 3)))
            traces.append(shared + own + 0.1 * rng.normal(size=(size, size, 3)))
            mask = np.zeros((size, size, 1))
            if k == 0:
                mask[:2, :2] = 1
            masks.append(mask)
            ids.append(f"v{v}")
    return trace_recovery.SpoofFrames(np.float32(images), np.float32(traces), np.float32(masks),
                                      np.array(["print"] * len(ids)), np.array(ids))


def _pearson(pairs):
    p = np.concatenate([a for a, _ in pairs])
    t = np.concatenate([b for _, b in pairs])
    return np.corrcoef(p, t)[0, 1]


def test_frame_specificity_pairs_each_video_with_every_other_video():
    frames = _toy_frames(frames=3)
    # Video v2 has only 2 frames: v0's third frame meets v2's first one again (frame k mod F_u).
    drop = np.flatnonzero(frames.videos == "v2")[-1]
    frames = trace_recovery.SpoofFrames(*(np.delete(a, drop, axis=0) for a in frames))
    rng = np.random.default_rng(1)
    predicted = (0.5 * frames.traces + rng.normal(size=frames.traces.shape)).astype(np.float32)
    result = trace_recovery.frame_metrics(frames, predicted)["print"]
    keep = np.broadcast_to(frames.masks == 0, frames.traces.shape)
    members = {v: np.flatnonzero(frames.videos == v) for v in ("v0", "v1", "v2", "v3")}
    for v, mine in members.items():
        own = _pearson([(predicted[i][keep[i]], frames.traces[i][keep[i]]) for i in mine])
        cross = []
        for u, theirs in members.items():
            if u != v:
                pairs = [(i, theirs[k % len(theirs)]) for k, i in enumerate(mine)]
                cross.append(_pearson([(predicted[i][keep[i] & keep[j]], frames.traces[j][keep[i] & keep[j]])
                                       for i, j in pairs]))
        got_own, got_s = result["per_video"][v]
        np.testing.assert_allclose(got_own, own, rtol=1e-9)
        np.testing.assert_allclose(got_s, own - np.mean(cross), rtol=1e-9, atol=1e-12)
    assert result["videos"]["videos"] == 4
    np.testing.assert_allclose(result["specificity"], np.mean([s for _, s in result["per_video"].values()]))
    # A fixed output (the same map for every frame) is specific to no video on average... and the true trace is.
    fixed = np.broadcast_to(frames.traces.mean(axis=0), frames.traces.shape).astype(np.float32)
    assert abs(trace_recovery.frame_metrics(frames, fixed)["print"]["specificity"]) < 0.05
    assert trace_recovery.frame_metrics(frames, frames.traces)["print"]["specificity"] > 0.3


def test_frame_test_counts_videos_against_the_references():
    method = {"a": (0.5, 0.3), "b": (0.4, 0.2), "c": (0.1, -0.1), "d": (0.2, None)}
    template = {"a": (0.4, 0.0), "b": (0.4, 0.25), "c": (0.1, -0.2), "d": (0.2, None)}
    colour = {"a": (0.9, 0.5), "b": (0.8, 0.4), "c": (0.7, 0.3), "d": (0.2, None)}
    result = trace_recovery.frame_test(method, {"template": template, "colour map": colour})
    # a and c beat the template (2 of 3: P(X >= 2 | 3) = 4 / 8); none beats the colour map.
    assert result["videos"] == 3
    assert result["template"] == {"beats": 2, "p": 0.5, "excess": pytest.approx((0.3 - 0.05 + 0.1) / 3)}
    assert result["colour map"]["beats"] == 0 and result["colour map"]["p"] == 1.0
    assert result["follows_frame"] is False
    many = {f"v{i}": (0.5, 0.4) for i in range(8)}
    low = {f"v{i}": (0.5, 0.0) for i in range(8)}
    assert trace_recovery.frame_test(many, {"template": low})["follows_frame"]   # 8/8: p = 1/256


def test_reference_predictors_match_numpy_fits():
    train = _toy_frames(seed=2, videos=3)
    references = trace_recovery.fit_references(train)
    assert list(references) == list(trace_recovery.REFERENCES)
    keep = (train.masks == 0).astype(np.float64)
    template = (keep * train.traces).sum(axis=0) / keep.sum(axis=0)
    images = train.images[:2]
    types = np.array(["print", "replay"])   # a type absent from train predicts zero
    got = references["template"](images, types)
    np.testing.assert_allclose(got[0], template, rtol=1e-5, atol=1e-6)
    assert not got[1].any()
    kept = np.broadcast_to(keep > 0, train.images.shape)[..., 0]
    design = np.concatenate([np.ones((kept.sum(), 1)), train.images[kept]], axis=1)
    coef = np.linalg.lstsq(design, train.traces[kept], rcond=None)[0]
    np.testing.assert_allclose(references["colour map"](images, types)[0], coef[0] + images[0] @ coef[1:],
                               rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(references["negated image"](images, types), -images)
    assert not references["zero"](images, types).any()
    # A trace that is exactly a colour map of the image is recovered exactly by the fitted colour map.
    a, b = np.array([0.1, -0.2, 0.05]), np.array([[-0.3, 0.1, 0], [0, -0.2, 0], [0.05, 0, -0.25]])
    exact = train._replace(traces=np.float32(a + train.images @ b))
    fitted = trace_recovery.fit_references(exact)["colour map"](exact.images, exact.types)
    np.testing.assert_allclose(fitted, exact.traces, atol=1e-5)


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


@pytest.mark.slow
def test_a_perfect_trace_model_recovers_every_band_and_region(synthetic_root, frames):
    ids, images, traces, masks, labels = frames
    result = trace_recovery.recovery_on_split(_oracle(images, traces, masks), synthetic_root, ids, train_ids=ids)
    assert result["all spoof types"]["frames"] == int((labels == 1).sum())
    assert set(result) == set(synthetic.SPOOF_TYPES) | {"all spoof types"}
    for name, values in result.items():
        if name in ("print", "replay", "paper_mask", "cosmetic", "all spoof types"):
            assert values["correlation"] > 1 - 1e-6, name
            assert all(c > 1 - 1e-5 for c in values["bands"].values()), (name, values["bands"])
            assert values["psnr"] > 100
            assert values["references"]["zero"]["correlation"] == 0.0
            # The truth beats the template's frame specificity in every video with another of its type.
            test = values["frame_test"]
            assert test["template"]["beats"] == test["videos"] > 0, name
        if "mask" in values:
            assert values["mask"] == {"frames": values["frames"], "iou": 1.0, "precision": 1.0, "recall": 1.0}
    assert {name for name, values in result.items() if "mask" in values} == {"paper_glasses", "partial_paper"}
    _check_video_statistics(images, traces, masks, synthetic_root, ids)
    # A method without an inpainting region is scored the same way, without the region's agreement.
    no_region = trace_recovery.recovery_on_split(_oracle(images, traces, masks, region=False), synthetic_root, ids)
    assert not any("mask" in values for values in no_region.values())
    assert no_region["print"]["correlation"] == result["print"]["correlation"]
    assert "references" not in no_region["print"]      # no train split given: no reference rows


def _pipeline_order(root, ids):
    from physstd.data import pipeline

    return [(str(b), int(t), bool(l)) for batch in pipeline.eval_dataset(root, ids, N, 64)
            for b, t, l in zip(batch["video_id"].numpy(), batch["spoof_type"].numpy(), batch["label"].numpy())]


def _check_video_statistics(images, traces, masks, root, ids):
    """Per-video counts: every video of the oracle correlates (+1); negating the recovered trace of one video
    takes exactly one off the counts of its type."""
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
    total = sum(len(v) for v in videos.values())
    assert result["all spoof types"]["videos"]["positive"] == total
    whole_face = len(videos.get("print", [])) + len(videos.get("replay", []))
    whole = trace_recovery.whole_face_recovery(result)
    assert whole["positive"] == whole["videos"] == whole_face
    name = next(name for name, listed in videos.items() if len(listed) >= 2 and name in ("print", "replay"))
    flipped = videos[name][1]
    signs = [-1.0 if video == flipped else 1.0 for video, _, _ in order]
    negated = trace_recovery.recovery_on_split(_oracle(images, traces, masks, signs), root, ids)
    assert negated[name]["videos"]["positive"] == len(videos[name]) - 1
    assert negated["all spoof types"]["videos"]["positive"] == total - 1
    assert trace_recovery.whole_face_recovery(negated)["positive"] == whole_face - 1


# --- the CLI ------------------------------------------------------------------------------------------------------
@pytest.mark.slow
def test_cli_scores_a_run_and_writes_json_and_markdown(synthetic_root, tmp_path, capsys):
    from physstd.data import protocols
    from physstd.methods.physstd.inference import load_generator, trace_model

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
    train_ids = protocols.load_split(os.path.join(synthetic_root, "protocols"), "identity", "train")
    expected = trace_recovery.recovery_on_split(trace_model(generator, model_config),
                                                synthetic_root, test_ids, train_ids=train_ids)
    assert list(record["types"]) == list(expected)
    for name, values in expected.items():
        assert record["types"][name]["correlation"] == pytest.approx(values["correlation"], abs=1e-9), name
        assert record["types"][name]["videos"] == values["videos"], name
        assert record["types"][name]["frame_test"] == values["frame_test"], name
        for ref, scores in values["references"].items():
            assert record["types"][name]["references"][ref] == pytest.approx(scores), (name, ref)
        # PhySTD reconstructs the live face: its overall effect is scored too.
        assert record["types"][name]["effect"]["correlation"] == pytest.approx(values["effect"]["correlation"])
    assert record["whole_face"] == trace_recovery.whole_face_recovery(expected)
    markdown = open(os.path.join(output, "trace_recovery.md")).read()
    print_row = next(line for line in markdown.splitlines() if line.startswith("| print |"))
    assert f"| {expected['print']['correlation']:.3f} |" in print_row
    assert "## Trace recovery on the test spoofs" in markdown and "written" in capsys.readouterr().out
    assert "### Against predictors that never see the trace" in markdown and "| follows the frame |" in markdown
    # A reference run (here the run itself) is scored as an extra reference row named after its folder.
    again = tmp_path / "with_reference"
    assert trace_recovery.main([f"--run_dir={run}", f"--reference_run={run}", f"--output_dir={again}"]) == 0
    types = json.loads((again / "trace_recovery.json").read_text())["types"]
    assert types["print"]["references"]["run"]["correlation"] == pytest.approx(types["print"]["correlation"])
    assert "| run |" in (again / "trace_recovery.md").read_text()
    # Another split and output folder.
    other = tmp_path / "train_split"
    assert trace_recovery.main([f"--run_dir={run}", "--split=train", f"--output_dir={other}"]) == 0
    assert json.loads((other / "trace_recovery.json").read_text())["split"] == "train"
    assert "## Trace recovery on the train spoofs" in (other / "trace_recovery.md").read_text()


def _one_error_line(capsys, *words):
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: "), err
    assert all(word in err[0] for word in words), (err, words)


@pytest.mark.slow
def test_cli_bad_input_is_one_error_line_and_status_2(synthetic_root, tmp_path, capsys):
    run = str(tmp_path / "run")
    make_run_dir(run, synthetic_root, "identity", size=N)
    assert trace_recovery.main([f"--run_dir={tmp_path}/missing"]) == 2
    _one_error_line(capsys, "missing", "flags.json")
    assert trace_recovery.main([f"--run_dir={run}", "--protocol=p9"]) == 2
    _one_error_line(capsys, "p9")
    assert trace_recovery.main([f"--run_dir={run}", "--split=validation"]) == 2
    _one_error_line(capsys, "validation")
    assert trace_recovery.main([f"--run_dir={run}", f"--reference_run={tmp_path}/no_ceiling"]) == 2
    _one_error_line(capsys, "no_ceiling")
    # A prepared set without truth.npz (as every real dataset is): nothing to compare with.
    data = str(tmp_path / "no_truth")
    write_dataset(data, size=N)
    for path in glob.glob(os.path.join(data, "**", prepared.TRUTH_FILE), recursive=True):
        os.remove(path)
    assert trace_recovery.main([f"--run_dir={run}", f"--data_root={data}", "--protocol=p1"]) == 2
    _one_error_line(capsys, "truth.npz", data)
    assert not os.path.exists(os.path.join(run, "eval", "trace_recovery"))   # nothing written on an error


@pytest.mark.slow
def test_cli_usage_errors_in_a_fresh_process():
    for arguments in ([], ["--run_dir"], ["--nonsense=1"]):
        run = subprocess.run([sys.executable, "-m", "physstd.eval.trace_recovery", *arguments], cwd=ROOT,
                             capture_output=True, text=True, timeout=120)
        lines = run.stderr.strip().splitlines()
        assert run.returncode == 2 and len(lines) == 1 and lines[0].startswith("error: "), (arguments, run.stderr)


@pytest.mark.slow
def test_the_supervised_ceiling_fits_the_true_traces(frames):
    """physstd.methods.physstd.supervised: 60 supervised steps halve the error of the generator's T_A to the true trace
    outside the true inpainting region."""
    from physstd import trace
    from physstd.methods.physstd.supervised import train_supervised
    from physstd.models import ModelConfig

    _, images, traces, masks, labels = frames
    keep = (masks == 0).astype(np.float32)
    config = ModelConfig(image_size=N, width=0.25)

    def error(generator):
        # Batch statistics: 60 steps barely move BatchNorm's running averages.
        predicted = trace.additive_trace(generator(images, training=True), config).numpy()
        return float(np.mean(keep * (predicted - traces) ** 2))
    untrained = train_supervised(images, traces, masks, labels, config, 0, 8, 1e-3, 0, False)
    trained = train_supervised(images, traces, masks, labels, config, 60, 8, 1e-3, 0, False)
    assert error(trained) < 0.5 * error(untrained)
