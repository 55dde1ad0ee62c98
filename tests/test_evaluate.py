"""Protocol evaluation: statistics of run dirs and exports agree, calibration on dev only, video = mean of frames,
metrics and files against independent numpy computations, multi-fold summaries, table layouts, run_test.py."""
import csv
import json
import os
import subprocess
import sys

import numpy as np
import pytest

from deploy_fixtures import make_run_dir, png_size, write_dataset
from physstd import export, methods, viz
from physstd.data import prepared
from physstd.eval import evaluate, metrics, scoring, tables
from physstd.methods.physstd import score as eq10
from physstd.methods.physstd.inference import PhySTDInference

N = 32
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    base = tmp_path_factory.mktemp("evaluate")
    data = str(base / "data")
    videos = write_dataset(data, size=N)
    run = str(base / "run")
    generator, model_config = make_run_dir(run, data, "p1", size=N)
    return {"base": base, "data": data, "videos": videos, "run": run, "generator": generator, "config": model_config}


def _reference_frames(setup, subset, protocol="p1", fold=None):
    """(video_id, label, spoof_type, trace_magnitude, depth_mean) per frame, computed without physstd.eval.evaluate."""
    dataset = prepared.PreparedDataset(setup["data"])
    folder = os.path.join(setup["data"], "protocols", protocol, *([f"fold_{fold}"] if fold else []))
    with open(os.path.join(folder, f"{subset}.txt")) as stream:
        ids = [line.strip() for line in stream if line.strip()]
    rows = []
    for video_id in ids:
        frames = dataset.load_frames(video_id).astype(np.float32) / 255.0
        out = setup["generator"](frames, training=False)
        trace_magnitude, depth_mean = eq10.frame_statistics(out.B, out.C, out.T, out.P, out.M)
        label, spoof_type, _ = setup["videos"][video_id]
        rows += [(video_id, label, spoof_type, t, d) for t, d in zip(trace_magnitude, depth_mean)]
    return rows


def _video_means(rows):
    order = list(dict.fromkeys(r[0] for r in rows))
    means = {}
    for video_id in order:
        mine = [r for r in rows if r[0] == video_id]
        means[video_id] = (mine[0][1], mine[0][2], np.mean([r[3] for r in mine]), np.mean([r[4] for r in mine]))
    return means


def test_run_dir_and_export_give_the_same_frame_statistics(setup, tmp_path):
    images = np.random.default_rng(0).uniform(0, 1, (4, N, N, 3)).astype(np.float32)
    out = setup["generator"](images, training=False)
    expected = eq10.frame_statistics(out.B, out.C, out.T, out.P, out.M)
    from_run = evaluate.ScoringModel(setup["run"])
    assert from_run.kind == "run" and from_run.image_size == N
    export.export_saved_model(PhySTDInference(setup["generator"], setup["config"]), methods.get("physstd"),
                              str(tmp_path / "model"), {"alpha0": 1.0}, 0.0, "dev")
    from_export = evaluate.ScoringModel(str(tmp_path / "model"))
    assert from_export.kind == "saved_model" and from_export.calibration_path is None
    for model in (from_run, from_export):
        assert model.method.name == "physstd"   # make_run_dir's flags.json names no method: a PhySTD run
        got = model.statistics(images)
        assert list(got) == ["trace_magnitude", "depth_mean"]
        for got, want in zip(got.values(), expected):
            np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-7)


def test_evaluate_fold_calibrates_on_dev_and_scores_videos_by_their_mean_frame_score(setup, tmp_path):
    model = evaluate.ScoringModel(setup["run"])
    split_dir = os.path.join(setup["data"], "protocols")
    result = evaluate.evaluate_fold(model, setup["data"], split_dir, "p1", output_dir=str(tmp_path))
    # alpha0 and the threshold: scoring.calibrate on the dev split's per-video means, saved with the run.
    dev = _video_means(_reference_frames(setup, "dev"))
    labels = np.array([v[0] for v in dev.values()])
    dev_trace, dev_depth = np.array([v[2] for v in dev.values()]), np.array([v[3] for v in dev.values()])
    saved = scoring.load_calibration(os.path.join(setup["run"], scoring.CALIBRATION_FILENAME),
                                     methods.get("physstd"))
    assert saved["split"] == "dev" and result["calibration"]["split"] == "dev"
    # The saved alpha0 is a best one on dev (float32 vs float64 statistics may break exact ties differently) and
    # the threshold is the dev EER threshold of its scores.
    assert (saved["method"], list(saved["params"])) == ("physstd", ["alpha0"])
    alpha0 = saved["params"]["alpha0"]
    best = max(metrics.auc(labels, scoring.weighted_difference(dev_trace, dev_depth, a))
               for a in scoring.default_weight_grid(dev_trace, dev_depth))
    assert metrics.auc(labels, scoring.weighted_difference(dev_trace, dev_depth, alpha0)) == pytest.approx(best,
                                                                                                       abs=1e-9)
    _, threshold = metrics.eer(labels, scoring.weighted_difference(dev_trace, dev_depth, alpha0))
    assert saved["threshold"] == pytest.approx(threshold, rel=1e-4, abs=1e-6)
    # Test scores: one per video, the mean of the frame scores.
    frames = _reference_frames(setup, "test")
    test = _video_means(frames)
    with open(tmp_path / "scores.csv", newline="") as stream:
        rows = list(csv.DictReader(stream))
    assert list(rows[0]) == list(evaluate.SCORE_COLUMNS)
    assert [r["video_id"] for r in rows] == list(test)
    assert {r["frame"] for r in rows} == {str(evaluate.VIDEO_FRAME)}
    for r in rows:
        label, spoof_type, trace_magnitude, depth_mean = test[r["video_id"]]
        frame_scores = [alpha0 * f[3] - f[4] for f in frames if f[0] == r["video_id"]]
        assert float(r["score"]) == pytest.approx(np.mean(frame_scores), rel=1e-5, abs=1e-7)
        assert (int(r["label"]), r["spoof_type"]) == (label, spoof_type)
    scores = np.array([float(r["score"]) for r in rows])
    labels = np.array([int(r["label"]) for r in rows])
    species = np.array([r["spoof_type"] for r in rows])
    expected = metrics.evaluate(labels, scores, saved["threshold"], species)
    for name in evaluate.SUMMARY_METRICS:
        assert result["metrics"][name] == pytest.approx(expected[name], abs=1e-9), name
    assert set(result["per_species"]) == {"print", "replay"}
    with open(tmp_path / "frame_scores.csv", newline="") as stream:
        frame_rows = list(csv.DictReader(stream))
    assert len(frame_rows) == len(frames) == result["num_frames"]
    assert result["num_samples"] == len(test) == result["num_videos"]
    np.testing.assert_allclose([float(r["trace_magnitude"]) for r in frame_rows], [f[3] for f in frames], rtol=1e-5)


def test_frame_level_and_saved_calibration(setup, tmp_path):
    model = evaluate.ScoringModel(setup["run"])
    split_dir = os.path.join(setup["data"], "protocols")
    scoring.save_calibration(model.calibration_path, methods.get("physstd"), {"alpha0": 2.0}, -0.5, "dev")
    result = evaluate.evaluate_fold(model, setup["data"], split_dir, "p1", frame_level=True,
                                    use_saved_calibration=True, output_dir=str(tmp_path))
    assert result["calibration"] == {"method": "physstd", "params": {"alpha0": 2.0}, "threshold": -0.5,
                                     "threshold_rule": {"rule": "eer"}, "split": "dev", "source": "saved"}
    frames = _reference_frames(setup, "test")
    labels, scores = result["_curve"]
    assert len(scores) == len(frames) == result["num_samples"]
    np.testing.assert_allclose(scores, [2.0 * f[3] - f[4] for f in frames], rtol=1e-5, atol=1e-7)
    np.testing.assert_array_equal(labels, [f[1] for f in frames])


def test_the_bpcer_rule_chooses_the_dev_threshold_and_is_saved_with_it(setup, tmp_path):
    model = evaluate.ScoringModel(setup["run"])
    split_dir = os.path.join(setup["data"], "protocols")
    rule = {"rule": "bpcer", "bpcer": 0.01}
    result = evaluate.evaluate_fold(model, setup["data"], split_dir, "p1", rule=rule)
    saved = scoring.load_calibration(model.calibration_path, methods.get("physstd"))
    assert saved["threshold_rule"] == result["calibration"]["threshold_rule"] == rule
    dev = _video_means(_reference_frames(setup, "dev"))
    labels = np.array([v[0] for v in dev.values()])
    scores = scoring.weighted_difference([v[2] for v in dev.values()], [v[3] for v in dev.values()],
                                         saved["params"]["alpha0"])
    # A handful of dev videos: the 1% budget rejects no bona fide one, so no dev bona fide score reaches the threshold.
    assert saved["threshold"] == pytest.approx(metrics.bpcer_threshold(labels, scores, 0.01), rel=1e-4, abs=1e-6)
    assert scores[labels == 0].max() < saved["threshold"]
    assert "(BPCER = 1%)" in evaluate.summary_markdown([result])
    # A saved calibration keeps its own rule; asking for another one as well is refused before any work.
    with pytest.raises(ValueError, match="drop --threshold_rule or --use_saved_calibration"):
        evaluate.evaluate_models([setup["run"]], str(tmp_path), use_saved_calibration=True, rule=rule)


def test_siwm_protocols_pool_the_apcer_and_keep_the_worst_species_beside_it(setup, tmp_path):
    import shutil

    model = evaluate.ScoringModel(setup["run"])
    plain = os.path.join(setup["data"], "protocols")
    siwm = tmp_path / "siw_m"
    shutil.copytree(os.path.join(plain, "p1"), siwm / "p1")
    (siwm / "p1" / "protocol.json").write_text(json.dumps({"dataset": "siw_m", "protocol": "p1"}))
    assert evaluate.protocol_apcer(str(siwm), "p1") == metrics.POOLED
    assert evaluate.protocol_apcer(plain, "p1") == metrics.WORST_SPECIES   # no protocol.json
    # A threshold between the two lowest attack scores: one of the 4 test attacks (2 print, 2 replay) accepted.
    scoring.save_calibration(model.calibration_path, methods.get("physstd"), {"alpha0": 2.0}, 0.0, "dev")
    labels, scores = evaluate.evaluate_fold(model, setup["data"], plain, "p1", use_saved_calibration=True)["_curve"]
    attacks = np.sort(scores[labels == 1])
    threshold = float(attacks[:2].mean())
    scoring.save_calibration(model.calibration_path, methods.get("physstd"), {"alpha0": 2.0}, threshold, "dev")
    bpcer = float(np.mean(scores[labels == 0] >= threshold))
    pooled = evaluate.evaluate_fold(model, setup["data"], str(siwm), "p1", use_saved_calibration=True)
    worst = evaluate.evaluate_fold(model, setup["data"], plain, "p1", use_saved_calibration=True)
    assert pooled["metrics"]["apcer_definition"] == "pooled" and worst["metrics"]["apcer_definition"] == "worst_species"
    assert pooled["metrics"]["apcer"] == 0.25 and pooled["metrics"]["acer"] == pytest.approx((0.25 + bpcer) / 2)
    for result in (pooled, worst):
        assert result["metrics"]["apcer_worst_species"] == 0.5
        assert result["metrics"]["acer_worst_species"] == pytest.approx((0.5 + bpcer) / 2)
    assert worst["metrics"]["apcer"] == 0.5
    # The per-run report shows the worst species beside the pooled figures, and only where they differ.
    header = evaluate.summary_markdown([pooled]).splitlines()[0]
    assert "| APCER | BPCER | ACER |" in header and header.endswith("| APCER (worst species) | ACER (worst species) |")
    assert "worst species" not in evaluate.summary_markdown([worst])
    record = evaluate.results_record([pooled], "p1", setup["data"], str(siwm))
    assert record["apcer_definition"] == "pooled" and record["summary"]["apcer_worst_species"] == 0.5


def test_calibration_refuses_test_and_falls_back_to_train_without_dev(setup, tmp_path):
    split_dir = os.path.join(setup["data"], "protocols")
    with pytest.raises(ValueError, match="never test"):
        evaluate.calibration_ids(split_dir, "p1", None, "test")
    lone = tmp_path / "protocols" / "nodev"
    lone.mkdir(parents=True)
    (lone / "train.txt").write_text("a\nb\n")
    (lone / "test.txt").write_text("c\n")
    assert evaluate.calibration_ids(str(tmp_path / "protocols"), "nodev", None, "dev") == (["a", "b"], "train")


def test_several_folds_give_mean_and_std_and_per_fold_files(setup, tmp_path):
    runs = []
    for k, fold in enumerate(("print", "replay")):
        run = str(setup["base"] / f"run_{fold}")
        make_run_dir(run, setup["data"], "folds", fold=fold, size=N, seed=k)
        runs.append(run)
    with pytest.raises(ValueError, match="--output_dir is required"):
        evaluate.evaluate_models(runs, log=lambda message: None)
    record, fold_results = evaluate.evaluate_models(runs, str(tmp_path), log=lambda message: None)
    assert [r["fold"] for r in fold_results] == ["print", "replay"]
    for result in fold_results:
        assert os.path.isfile(tmp_path / f"fold_{result['fold']}" / "scores.csv")
        assert set(result["per_species"]) == {result["fold"]}   # each fold tests one attack type
    with open(tmp_path / "results.json") as stream:
        saved = json.load(stream)
    for name in evaluate.SUMMARY_METRICS:
        values = [r["metrics"][name] for r in fold_results]
        mean, std = metrics.mean_std(values)
        assert saved["summary"][name] == {"mean": pytest.approx(mean), "std": pytest.approx(std), "folds": values}
    assert png_size(tmp_path / "roc_det.png") == viz.ROC_DET_SIZE
    assert "_curve" not in saved["folds"][0]
    markdown = evaluate.summary_markdown(fold_results)
    assert markdown.count("\n") == 2 + 2 + 1 and "mean ± std" in markdown


def _fold(fold, value, apcer=metrics.POOLED):
    values = {k: value for k in evaluate.SUMMARY_METRICS + evaluate.WORST_SPECIES_METRICS}
    return {"fold": fold, "metrics": dict(values, apcer_definition=apcer),
            "per_species": {"print": {"acer": value / 2}}}


def test_table_results_layouts():
    one = [_fold(None, 0.1)]
    worst = [_fold(None, 0.1, metrics.WORST_SPECIES)]
    assert evaluate.table_results("oulu", worst, "1") == {"1": worst[0]["metrics"]}
    several = [_fold("1", 0.1), _fold("2", 0.3)]
    assert evaluate.table_results("siw", [_fold(k, v, metrics.WORST_SPECIES) for k, v in (("1", 0.1), ("2", 0.3))],
                                  "3")["3"]["acer"] == [0.1, 0.3]
    assert evaluate.table_results("siwm_p2", several) == {"1": several[0]["metrics"], "2": several[1]["metrics"]}
    assert set(evaluate.table_results("cross_type_auc", several, "casia")) == {"casia_1", "casia_2"}
    assert evaluate.table_results("siwm_p1", one) == {"print": {"acer": 0.05}, "overall": one[0]["metrics"]}
    with pytest.raises(ValueError, match="table_entry"):
        evaluate.table_results("oulu", worst, "")
    # A table never prints another APCER than its own: the SiW-M tables the pooled one, OULU-NPU the worst species.
    with pytest.raises(ValueError, match="prints the pooled APCER"):
        evaluate.table_results("siwm_p1", [_fold(None, 0.1, metrics.WORST_SPECIES)])
    with pytest.raises(ValueError, match="prints the worst_species APCER"):
        evaluate.table_results("oulu", one, "1")
    # WMCA leave-one-out: one column per fold, named by the PAI category left out; CeFA: a list over sub-protocols.
    loo = [_fold("prints", 0.1), _fold("glasses", 0.3)]
    assert evaluate.table_results("wmca_loo", loo) == {"prints": loo[0]["metrics"], "glasses": loo[1]["metrics"]}
    assert evaluate.table_results("cefa", several, "1")["1"]["apcer"] == [0.1, 0.3]
    assert evaluate.table_results("wmca_grandtest", one, "grandtest") == {"grandtest": one[0]["metrics"]}
    several = [_fold("1", 0.1, metrics.WORST_SPECIES), _fold("2", 0.3, metrics.WORST_SPECIES)]
    rendered = tables.render_table("oulu", {"ours": evaluate.table_results("oulu", several, "3")})
    assert "20.0 ± 14.1" in rendered   # mean 0.2, sample std 0.1414 of the two folds, in percent


@pytest.mark.slow
def test_run_test_cli_prints_metrics_and_the_paper_table(setup, tmp_path):
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    command = [sys.executable, os.path.join(ROOT, "run_test.py"), f"--run_dir={setup['run']}",
               f"--output_dir={tmp_path}", "--table=siwm_p1", "--published_rows=Auxiliary,PhySTD"]
    run = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=180)
    assert run.returncode == 0, run.stderr[-3000:]
    assert "| ACER |" in run.stdout or "ACER" in run.stdout
    assert "PhySTD (paper)" in run.stdout and "PhySTD (ours)" in run.stdout and "STDN (paper)" not in run.stdout
    # PhySTD paper, Tab. 3 "Auxiliary [18]" ACER row, first of the block, above PhySTD's.
    assert ("| ACER | Auxiliary (paper) | 5.1 | 5.0 | 5.0 | 10.2 | 5.0 | 9.8 | 6.3 | 19.6 | 5.0 | 26.5 | 5.5 | 5.2 | "
            "5.0 | 6.3 |") in run.stdout
    assert "--published_rows=Auxiliary,PhySTD)" in run.stdout   # the reprint command keeps the choice
    table, results = tables.load_results(tmp_path / "table.json")
    assert table == "siwm_p1" and set(results["PhySTD (ours)"]) == {"print", "replay", "overall"}
    # --table=siwm_p1 evaluates with the table's pooled APCER; results.json keeps the worst species beside it.
    saved = json.loads((tmp_path / "results.json").read_text())
    assert saved["apcer_definition"] == "pooled" and "APCER (worst species)" in run.stdout
    overall = results["PhySTD (ours)"]["overall"]
    assert overall["apcer"] == saved["folds"][0]["metrics"]["apcer"]
    assert overall["apcer_worst_species"] == max(overall["apcer_per_species"].values())
    bad = subprocess.run([sys.executable, os.path.join(ROOT, "run_test.py"), f"--run_dir={tmp_path}/missing",
                          "--data_root=x", "--protocol=p1", f"--output_dir={tmp_path}/o"],
                         cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert bad.returncode == 2 and "flags.json" in bad.stderr
    unknown_row = subprocess.run(command[:-1] + ["--published_rows=Auxiliary,LGSC"], cwd=ROOT, env=env,
                                 capture_output=True, text=True, timeout=120)
    assert unknown_row.returncode == 2 and unknown_row.stderr.strip().splitlines()[-1] == (
        "error: --published_rows=Auxiliary,LGSC: table 'siwm_p1' has no published row 'LGSC'; expected some of "
        "PhySTD, STDN, Auxiliary, Step1, Step1+Step2 w/ single trace, Step1+Step2")
