"""`make demo` end to end at toy size (N = 32, 3 identities, 2 training steps) for every method, the stages a method
cannot do, and its failure reporting."""
import json
import os
import re

import cv2
import numpy as np
import pytest

from deploy_fixtures import png_size
from physstd.apps import demo
from physstd.eval import trace_recovery

TOY = ["--train_flag=--image_size=32", "--train_flag=--synthetic_identities=3", "--train_flag=--num_steps=2",
       "--train_flag=--eval_every=0", "--train_flag=--checkpoint_every=1", "--train_flag=--log_every=1",
       "--train_flag=--image_summary_every=0", "--train_flag=--summary_every=1",
       "--train_flag=--nojit_compile"]   # the demo compiles with XLA; two toy steps do not pay for it


@pytest.fixture(scope="module")
def toy_demo(tmp_path_factory):
    output = tmp_path_factory.mktemp("demo")
    status = demo.main([f"--output_dir={output}", *TOY])
    return output, status


STAGE_ROW = r"^\| (\w+) \| (ok|FAILED|skipped|not applicable) \|"


@pytest.mark.slow
def test_every_stage_runs_and_the_report_says_what_it_is(toy_demo):
    output, status = toy_demo
    report = (output / "report.md").read_text()
    assert "synthetic smoke test" in report and "- method: PhySTD (`--method=physstd`)" in report
    stages = dict(re.findall(STAGE_ROW, report, flags=re.M))
    assert stages == {name: "ok" for name in ("generate", "train", "evaluate", "recovery", "classify", "export",
                                              "reload", "originals", "figures")}
    assert "Spoof medium classification" in report
    checks = re.findall(r"^\| (.+?) \| (pass|FAIL|not met) \| (.+?) \|$", report, flags=re.M)
    # AUC, recovery on print and replay (the toy set has both), the frame test (a finding), reload, original photos
    assert len(checks) == 5
    # The exit status follows the gated checks: 0 only when all pass (2 training steps rarely reach AUC 0.95);
    # the frame test is reported ("pass" or "not met") and never fails the demo.
    assert status == (1 if any(result == "FAIL" for _, result, _ in checks) else 0)
    frame = [c for c in checks if "follow the frame" in c[0]]
    assert len(frame) == 1 and frame[0][1] in ("pass", "not met") and "vs template" in frame[0][2]
    reload_check = [c for c in checks if c[0].startswith("fresh-process")][0]
    assert reload_check[1] == "pass" and float(reload_check[2]) <= demo.RELOAD_TOLERANCE


@pytest.mark.slow
def test_outputs_exist_in_their_documented_places(toy_demo):
    output, _ = toy_demo
    assert os.path.isfile(output / "saved_model" / "saved_model.pb")
    assert os.path.isfile(output / "run" / "calibration.json")
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
        assert set(values["bands"]) == set(trace_recovery.BANDS)
        assert all(-1.0 <= c <= 1.0 for c in values["bands"].values())
        assert set(values["band_energy"]) == set(trace_recovery.BANDS)
        assert all(e >= 0 for e in values["band_energy"].values())
    # The types with an inpainting region (and only those) report how well P finds it.
    assert {name for name, values in recovery.items() if "mask" in values} <= {"paper_glasses", "partial_paper"}
    for name in ("trace_figure", "fig9_disentanglement", "trace_truth_vs_recovered", "fig10_spoof_synthesis",
                 "fig12_progressive_removal"):
        width, height = png_size(output / "figures" / f"{name}.png")
        assert width > 32 and height > 32
    # PhySTD's other figure layouts come from Method.paper_figures: Fig. 12 has five columns per spoof example.
    assert png_size(output / "figures" / "fig12_progressive_removal.png")[0] > 5 * 32
    # PhySTD's trace figure is its Method.trace_figure, the Fig. 8 layout: six columns.
    assert "PhySTD's trace figure: input, [B]n1, [C]n2, T, P, live" in (output / "report.md").read_text()


@pytest.mark.slow
def test_original_photos_are_scored_as_run_predict_scores_them(toy_demo, tmp_path):
    """original_photos.json holds, for every identity of the set, the score run_predict.py's code path
    (predict.predict_paths) gives the packaged photo saved as a PNG file, the export's threshold, and the
    protocol's identity subsets; the report has its section."""
    from physstd import export, predict
    from physstd.data import prepared, synthetic

    output, _ = toy_demo
    result = json.loads((output / "original_photos.json").read_text())
    assert result["threshold"] == export.read_export_info(output / "saved_model")["threshold"]
    subjects = {row["subject"] for row in prepared.read_index(str(output / "data" / "synthetic32"))[0]}
    assert sorted(sum(result["subsets"].values(), [])) == sorted(subjects)
    paths = []
    for name, image in synthetic.packaged_photos():
        if name in subjects:
            paths.append(str(tmp_path / f"{name}.png"))
            cv2.imwrite(paths[-1], cv2.cvtColor(image, cv2.COLOR_RGB2BGR))
        if len(paths) == len(subjects):
            break
    results = predict.predict_paths(output / "saved_model", paths, str(tmp_path / "predictions"), figures=False,
                                    log=lambda line: None)
    expected = {os.path.splitext(os.path.basename(r.source))[0]: r.faces[0].score for r in results if r.faces}
    assert {"astronaut", "grace_hopper"} <= set(expected)
    assert sorted(result["scores"]) == sorted(expected)
    for name, score in expected.items():
        assert result["scores"][name] == pytest.approx(score, abs=1e-5)
    report = (output / "report.md").read_text()
    assert "## Original photos of the identities" in report
    below = sum(score < result["threshold"] for score in expected.values())
    check = re.search(r"^\| original photos of the identities score below the threshold \| (pass|FAIL) \| (\d+)/(\d+) ",
                      report, flags=re.M)
    assert check.groups() == ("pass" if below == len(expected) else "FAIL", str(below), str(len(expected)))


def test_original_photos_report_names_the_photos_scored_as_attacks():
    """Hand-made scores (threshold 1.0): every photo at or above it is named with its score; the subsets count the
    photos below it (a photo without a face counts as not below); the sharp photos get their own table rows."""
    subsets = {"train": ["astronaut", "grace_hopper", "lfw_001"], "dev": ["lfw_002"], "test": ["lfw_003", "lfw_004"]}
    scores = {"astronaut": 0.4, "grace_hopper": 1.0, "lfw_001": 0.2, "lfw_002": 1.7, "lfw_003": 0.9}
    text = "\n".join(demo.original_photos_report({"threshold": 1.0, "scores": scores, "subsets": subsets}))
    assert "train identities 2 of 3, dev identities 0 of 1, test identities 1 of 2 (dlib finds no face in 1 of" in text
    assert "| astronaut | 0.400 | bona fide |" in text and "| grace_hopper | 1.000 | attack |" in text
    assert "original photos of grace_hopper, lfw_002 as attacks** (1.000, 1.700 >= 1.000): the check fails" in text
    scores.update(grace_hopper=0.99, lfw_002=0.5)
    text = "\n".join(demo.original_photos_report({"threshold": 1.0, "scores": scores, "subsets": subsets}))
    assert "as an attack" not in text and "Every original photo scores below the threshold" in text
    scores["astronaut"] = 1.5
    text = "\n".join(demo.original_photos_report({"threshold": 1.0, "scores": scores, "subsets": subsets}))
    assert "original photo of astronaut as an attack** (1.500 >= 1.000)" in text


@pytest.mark.slow
def test_a_failing_stage_skips_its_dependents_and_exits_non_zero(toy_demo, monkeypatch):
    output, _ = toy_demo

    def broken(self):
        raise RuntimeError("injected failure")
    monkeypatch.setattr(demo.Demo, "train", broken)
    assert demo.main([f"--output_dir={output}", *TOY]) == 1
    report = (output / "report.md").read_text()
    assert "| train | FAILED |" in report and "injected failure" in report
    for name in ("evaluate", "recovery", "classify", "export", "reload", "originals", "figures"):
        assert f"| {name} | skipped |" in report
    assert "| generate | ok |" in report


def test_a_missing_flagfile_is_a_usage_error(tmp_path):
    assert demo.main([f"--output_dir={tmp_path}", f"--flagfile={tmp_path}/none.flags"]) == 2


def test_a_missing_method_demo_flagfile_and_an_unknown_method_are_usage_errors(tmp_path, capsys):
    assert demo.main([f"--output_dir={tmp_path}", "--method=no_such_method"]) == 2
    assert "unknown method 'no_such_method'" in capsys.readouterr().err
    assert demo.demo_flagfile("physstd").endswith("flags/demo.flags")
    assert demo.demo_flagfile("despoof").endswith("flags/despoof_demo.flags") and os.path.isfile(
        demo.demo_flagfile("despoof"))


class _Inference:
    """A stand-in for a method's Inference: its call returns fixed outputs."""

    image_size = 32
    config = {}

    def __init__(self, **outputs):
        self.outputs = outputs

    def __call__(self, images):
        return self.outputs


def test_the_stages_a_method_cannot_do_are_not_applicable():
    """Read off the Method interface, without training: the Auxiliary CNN (no trace model, no classification
    traces, no figure outputs, no live reconstruction) can neither recover, classify nor draw; a method with a
    trace and its figure can do all three; one with only a live reconstruction draws Fig. 9 and nothing else."""
    from physstd import methods
    from physstd.methods.base import Method, TraceModel

    depth = np.zeros((1, 4, 4, 1), np.float32)
    auxiliary = demo.not_applicable(methods.get("auxiliary"), _Inference(depth_mean=np.zeros(1), depth=depth))
    assert set(auxiliary) == {"recovery", "classify", "figures"}
    assert all(reason.startswith("Auxiliary ") for reason in auxiliary.values())

    class Traced(Method):
        display_name = "Traced"
        figure_outputs = ("additive_trace",)

        def trace_model(self, inference):
            return TraceModel(lambda images: (images, None), inference.image_size, (16, 8))

        def classification_traces(self, outputs):
            return outputs["additive_trace"]

    trace = np.zeros((1, 32, 32, 3), np.float32)
    assert demo.not_applicable(Traced(), _Inference(additive_trace=trace)) == {}

    class LiveOnly(Method):
        display_name = "LiveOnly"

    assert set(demo.not_applicable(LiveOnly(), _Inference(live=trace))) == {"recovery", "classify"}


def test_a_stage_that_is_not_applicable_is_reported_and_fails_nothing(tmp_path):
    """A stage raising NotApplicable gets that status and its reason in report.md; only failed or skipped stages
    and failed gated checks make the exit status 1."""
    run = demo.Demo(str(tmp_path), "", [], method="auxiliary")   # reads flags only: nothing trains
    assert run.method.name == "auxiliary" and run.flagfile.endswith("auxiliary_demo.flags")

    def cannot():
        raise demo.NotApplicable("Auxiliary estimates no additive spoof trace")
    assert not run.stage("recovery", cannot)
    assert run.stage("export", lambda: "done")
    run.check("a finding", False, "-", gated=False)
    assert run.failed() == []
    report = open(demo.write_report(run, 1.0)).read()
    assert "| recovery | not applicable | " in report and "Auxiliary estimates no additive spoof trace" in report
    run.check("a gate", False, "-")
    run.stages.append(demo.Stage("figures", status="skipped"))
    assert run.failed() == ["figures", "a gate"]


@pytest.mark.slow
def test_the_auxiliary_demo_reports_the_stages_it_cannot_do(tmp_path):
    """--method=auxiliary runs the same stages; recovery, classification and figures are not applicable (no
    trace), the ROC/DET figure of the evaluation is still listed, and the exit status follows the gated checks."""
    status = demo.main([f"--output_dir={tmp_path}", "--method=auxiliary", *TOY])
    report = (tmp_path / "report.md").read_text()
    stages = dict(re.findall(STAGE_ROW, report, flags=re.M))
    assert stages == {"generate": "ok", "train": "ok", "evaluate": "ok", "recovery": "not applicable",
                      "classify": "not applicable", "export": "ok", "reload": "ok", "originals": "ok",
                      "figures": "not applicable"}
    assert "- method: Auxiliary (`--method=auxiliary`)" in report and "trace form" not in report
    checks = re.findall(r"^\| (.+?) \| (pass|FAIL|not met) \| (.+?) \|$", report, flags=re.M)
    assert len(checks) == 3   # AUC, reload, original photos: no trace to check
    assert status == (1 if any(result == "FAIL" for _, result, _ in checks) else 0)
    assert "ROC and DET curves of the test split: `eval/roc_det.png`" in report
    assert not (tmp_path / "trace_recovery.json").exists() and not (tmp_path / "figures").exists()


@pytest.mark.slow
def test_the_despoof_demo_trains_its_dq_net_first_and_runs_every_stage(tmp_path):
    """--method=despoof: the Auxiliary run it reads as DQ-Net is trained first into dq_run/ (a stage of its own),
    then every stage runs; its trace figure is De-Spoof's noise figure (Method.trace_figure)."""
    from physstd import runs

    status = demo.main([f"--output_dir={tmp_path}", "--method=despoof", *TOY])
    report = (tmp_path / "report.md").read_text()
    stages = dict(re.findall(STAGE_ROW, report, flags=re.M))
    assert stages == {name: "ok" for name in ("generate", "dq_run", "train", "evaluate", "recovery", "classify",
                                              "export", "reload", "originals", "figures")}
    assert list(stages) == ["generate", "dq_run", "train", "evaluate", "recovery", "classify", "export", "reload",
                            "originals", "figures"]
    assert runs.run_method(runs.read_run_flags(str(tmp_path / "dq_run"))) == "auxiliary"
    record = runs.read_run_flags(str(tmp_path / "run"))
    assert runs.run_method(record) == "despoof" and json.dumps(str(tmp_path / "dq_run")) in json.dumps(record)
    assert "DeSpoof's trace figure: input, noise N, 0\\1 map, depth, live" in report
    checks = re.findall(r"^\| (.+?) \| (pass|FAIL|not met) \| (.+?) \|$", report, flags=re.M)
    assert len(checks) == 5 and status == (1 if any(result == "FAIL" for _, result, _ in checks) else 0)
