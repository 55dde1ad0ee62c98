"""The import rules of the layout data -> methods -> train / eval -> entry points (README "Layout")."""
import ast
import os
import subprocess
import sys
import textwrap

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PACKAGE = os.path.join(ROOT, "physstd")


def imported_modules(path):
    """Every module a source file imports, at any depth (lazy imports inside functions included)."""
    with open(path) as stream:
        tree = ast.parse(stream.read(), path)
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def _sources(*parts):
    folder = os.path.join(PACKAGE, *parts)
    if folder.endswith(".py"):
        return [folder]
    return sorted(os.path.join(folder, name) for name in os.listdir(folder) if name.endswith(".py"))


def _importing(paths, prefix):
    return {os.path.relpath(path, ROOT): sorted(name for name in imported_modules(path)
                                               if name == prefix or name.startswith(prefix + "."))
            for path in paths if any(name == prefix or name.startswith(prefix + ".")
                                     for name in imported_modules(path))}


def test_evaluation_export_and_predict_never_import_training_code():
    shared = _sources("eval") + _sources("export.py") + _sources("predict.py") + _sources("runs.py")
    assert _importing(shared, "physstd.train") == {}


def test_checkpoints_and_the_trainer_do_not_import_each_other_and_the_loop_takes_its_trainer_from_the_method():
    checkpoints, trainer, loop = (os.path.join(PACKAGE, "train", name) for name in
                                  ("checkpoints.py", "trainer.py", "loop.py"))
    assert not {"physstd.train.trainer", "physstd.train.trainer.dtype_policy"} & imported_modules(checkpoints)
    assert not any(name.startswith("physstd.train.checkpoints") for name in imported_modules(trainer))
    assert not any(name.startswith("physstd.train.trainer") for name in imported_modules(loop))


def test_the_registry_and_the_interface_import_neither_training_nor_evaluation():
    light = _sources("methods", "__init__.py") + _sources("methods", "base.py")
    assert _importing(light, "physstd.train") == {} and _importing(light, "physstd.eval") == {}


@pytest.mark.slow
def test_loading_scoring_and_exporting_a_run_loads_no_training_module(tmp_path):
    """Every evaluation-side module imported, and a PhySTD run directory (old style: flags.json without 'method')
    restored, scored and served, in a process that never imports physstd.train."""
    script = textwrap.dedent(f"""
        import json, os, sys
        import numpy as np
        import tensorflow as tf
        from physstd import export, predict, runs
        from physstd.eval import evaluate, tables, trace_classification, trace_recovery
        from physstd.models import Generator, ModelConfig

        run = {str(tmp_path / 'run')!r}
        config = ModelConfig(image_size=32, width=0.125)
        generator = Generator(config)
        generator(tf.zeros((1, 32, 32, 3)), training=False)
        os.makedirs(run)
        with open(os.path.join(run, runs.FLAGS_FILE), "w") as stream:
            json.dump({{"train": {{}}, "model": config.to_dict()}}, stream)
        manager = tf.train.CheckpointManager(tf.train.Checkpoint(generator=runs.network_checkpoint(generator)),
                                             os.path.join(run, runs.CHECKPOINT_DIR), max_to_keep=2)
        manager.save(checkpoint_number=1)
        model = evaluate.ScoringModel(run)
        terms = model.statistics(np.full((2, 32, 32, 3), 0.5, np.float32))
        serving = export.ServingModule(model.method.load(run), model.method, {{"alpha0": 1.0}}, 0.0)
        serving.serve_float32(tf.fill((1, 32, 32, 3), 0.5))
        print(model.method.name, sorted(terms))
        print(sorted(m for m in sys.modules if m.startswith("physstd.train")))
    """)
    run = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=300,
                         env=dict(os.environ, PYTHONPATH=ROOT, TF_CPP_MIN_LOG_LEVEL="3"))
    assert run.returncode == 0, run.stderr[-3000:]
    lines = run.stdout.strip().splitlines()
    assert lines[-2:] == ["physstd ['depth_mean', 'trace_magnitude']", "[]"]
