"""benchmarks/export_formats.py --summary: the accuracy columns of several runs' results side by side, against each
run's own SavedModel, on hand-made results whose changes are computed here by hand."""
import json
import os
import subprocess
import sys

import pytest

from benchmarks import export_formats

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _row(format_name, variant, auc, acer, flips=0, difference=0.0):
    return {"format": format_name, "variant": variant, "metrics": {"auc": auc, "acer": acer, "apcer": 0, "bpcer": 0},
            "video_flips": flips, "max_score_difference": difference}


def _write(folder, name, rows, float_layers):
    os.makedirs(folder)
    with open(os.path.join(folder, "export_formats.json"), "w") as stream:
        json.dump({"run_dir": f"/runs/{name}", "rows": rows, "int8_float_layers": float_layers}, stream)
    return str(folder)


@pytest.fixture
def results(tmp_path):
    first = _write(tmp_path / "a", "despoof_s0", [_row("savedmodel", "float32", 0.9287, 0.3958),
                                                  _row("litert", "int8", 0.9251, 0.3750, 2, 0.029)], "ds_net")
    second = _write(tmp_path / "b", "despoof_s1", [_row("savedmodel", "float32", 0.90, 0.25),
                                                   _row("litert", "int8", 0.91, 0.2708, 1, 0.5)], "ds_net")
    return [first, second]


def test_the_summary_gives_each_runs_change_against_its_own_savedmodel_and_their_mean(results):
    lines = export_formats.summary(export_formats.read_results(results)).splitlines()
    assert lines[0] == "2 runs: despoof_s0 (int8 float layers 'ds_net'); despoof_s1 (int8 float layers 'ds_net')"
    # AUC: 92.51 - 92.87 = -0.36 and 91 - 90 = +1.00, mean +0.32; ACER: 37.50 - 39.58 = -2.08 and 27.08 - 25 = +2.08,
    # mean 0; flips 2 and 1; the larger score difference 0.5.
    assert lines[-1] == "| litert | int8 | -0.36, +1.00 (+0.32) | -2.08, +2.08 (+0.00) | 2, 1 (3) | 5.0e-01 |"
    assert len(lines) == 5


def test_a_folder_without_results_or_a_run_without_the_variant_is_refused_in_one_error_line(results, tmp_path):
    missing = str(tmp_path / "nothing")
    run = subprocess.run([sys.executable, "-m", "benchmarks.export_formats", f"--summary={results[0]},{missing}"],
                         cwd=ROOT, capture_output=True, text=True)
    assert run.returncode == 2 and run.stdout == ""
    assert run.stderr.strip().splitlines() == [
        f"error: {missing}/export_formats.json: not a result of this benchmark (FileNotFoundError); run "
        f"`python -m benchmarks.export_formats --run_dir=RUN --output_dir={missing}` first"]
    other = _write(tmp_path / "c", "auxiliary_s0", [_row("savedmodel", "float32", 0.9, 0.2),
                                                    _row("litert", "float16", 0.9, 0.2)], "")
    with pytest.raises(ValueError, match="auxiliary_s0: its results hold no litert int8 row next to a SavedModel"):
        export_formats.summary(export_formats.read_results(results + [other]))


def test_reuse_names_the_files_that_are_not_there_before_scoring_anything(tmp_path):
    # An earlier run measured float32 and int8 only; asking --reuse for float16 too must stop before any scoring,
    # naming the missing file (not a child process's traceback), and write nothing.
    output = tmp_path / "out"
    for name in ("model.float32.tflite", "model.int8.tflite", "model.onnx"):
        (output / name).parent.mkdir(exist_ok=True)
        (output / name).write_bytes(b"")
    (output / "model").mkdir()
    before = sorted(os.listdir(output))
    run = subprocess.run([sys.executable, "-m", "benchmarks.export_formats", f"--run_dir={tmp_path / 'run'}",
                          f"--output_dir={output}", "--reuse", "--litert_variants=float32,float16,int8"],
                         cwd=ROOT, capture_output=True, text=True)
    assert run.returncode == 2 and run.stdout == ""
    assert run.stderr.strip().splitlines() == [
        f"error: --reuse: {output}/model.float16.tflite not found; export them (run without --reuse) or name only "
        "the variants there with --litert_variants"]
    assert sorted(os.listdir(output)) == before
    # --ops reads the float32 and int8 files alone: without the int8 one it is refused the same way.
    os.remove(output / "model.int8.tflite")
    run = subprocess.run([sys.executable, "-m", "benchmarks.export_formats", f"--run_dir={tmp_path / 'run'}",
                          f"--output_dir={output}", "--reuse", "--ops"], cwd=ROOT, capture_output=True, text=True)
    assert run.returncode == 2 and run.stderr.strip() == (
        f"error: --reuse: {output}/model.int8.tflite not found; export them (run without --reuse) or name only "
        "the variants there with --litert_variants")


def test_a_failed_export_ends_in_one_error_line_with_the_exports_own_reason(tmp_path):
    run = subprocess.run([sys.executable, "-m", "benchmarks.export_formats", f"--run_dir={tmp_path / 'no_run'}",
                          f"--output_dir={tmp_path / 'out'}", "--rounds=0"], cwd=ROOT, capture_output=True, text=True)
    assert run.returncode == 1
    lines = [line for line in run.stderr.splitlines() if line.startswith("error:") or "Traceback" in line]
    assert lines == [f"error: run_export.py failed: {tmp_path / 'no_run'}/flags.json: run flags (a run directory "
                     "written by run_train.py) file not found"]
