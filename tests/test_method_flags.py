"""Flags belong to methods: run_train.py refuses a flag of another method (command line or flagfile), its --help
lists the shared flags and the chosen method's without loading TensorFlow, every flagfile in flags/ parses for its
own method, and run_test.py's default row label is the run's method's display name."""
import glob
import json
import os
import subprocess
import sys

import pytest

from physstd import methods
from physstd.methods.base import MethodConfig

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# (method, the flags given, the error line's text after "error: ")
FOREIGN = [
    ("auxiliary", ["--a2=5"], "--a2 belongs to method physstd; --method=auxiliary does not read it"),
    ("auxiliary", ["--dq_run=runs/aux"], "--dq_run belongs to method despoof; --method=auxiliary does not read it"),
    ("auxiliary", ["--discriminator_width=0.5"],
     "--discriminator_width belongs to methods despoof and physstd; --method=auxiliary does not read it"),
    ("auxiliary", ["--trace_form=single"], "--trace_form belongs to method physstd; --method=auxiliary"),
    ("despoof", ["--steps=12", "--beta=0.2"],
     "--beta belongs to method physstd; --steps belongs to method physstd; --method=despoof does not read them"),
    ("physstd", ["--train_dq"], "--train_dq belongs to method despoof; --method=physstd does not read it"),
]


def _configs(argv):
    from absl import flags

    from physstd.train import flags as train_flags

    values = flags.FlagValues()
    train_flags.define_flags(values)
    values(["run_train.py", *argv])
    return train_flags.configs_from_flags(values)


@pytest.mark.parametrize("method,given,message", FOREIGN, ids=[f"{m}:{' '.join(g)}" for m, g, _ in FOREIGN])
def test_a_flag_of_another_method_is_refused_naming_the_method_it_belongs_to(method, given, message):
    """--a2=5 is PhySTD's default value: given at all, it is refused (the user meant something by it)."""
    with pytest.raises(ValueError) as raised:
        _configs([f"--method={method}", *given])
    assert str(raised.value).startswith(message), str(raised.value)
    assert f"run_train.py --method={method} --help lists its flags" in str(raised.value)


def test_a_method_takes_its_own_and_the_shared_flags():
    config, model = _configs(["--method=despoof", "--dq_run=runs/aux", "--train_dq", "--discriminator_width=0.5",
                              "--learning_rate=1e-4", "--image_size=64"])
    own = config.method_config
    assert (own.dq_run, own.train_dq, model.discriminator_width, config.learning_rate) == ("runs/aux", True, 0.5, 1e-4)
    config, model = _configs(["--a2=3", "--steps=12", "--trace_form=single", "--discriminator_width=0.5"])
    own = config.method_config
    assert (config.method, own.a2, own.steps, own.a1, model.trace_form) == ("physstd", 3.0, "12", 100.0, "single")
    config, _ = _configs(["--method=auxiliary", "--batch_size=4", "--mixed_precision"])
    assert (config.batch_size, config.mixed_precision, config.method_config) == (4, True, MethodConfig())


@pytest.mark.slow
def test_a_flag_of_another_method_in_a_flagfile_is_one_error_line_and_exit_2(tmp_path):
    flagfile = tmp_path / "aux.flags"
    flagfile.write_text("--method=auxiliary\n--a2=10\n")
    result = subprocess.run([sys.executable, os.path.join(ROOT, "run_train.py"), f"--flagfile={flagfile}",
                             f"--run_dir={tmp_path / 'run'}"], cwd=str(tmp_path), capture_output=True, text=True,
                            timeout=120, env=dict(os.environ, PYTHONPATH=ROOT))
    assert result.returncode == 2, result.stderr[-2000:]
    assert result.stderr.strip().splitlines() == [
        "error: --a2 belongs to method physstd; --method=auxiliary does not read it (run_train.py "
        "--method=auxiliary --help lists its flags)"]
    assert os.listdir(tmp_path) == ["aux.flags"]


def test_every_flagfile_parses_for_its_own_method():
    paths = sorted(glob.glob(os.path.join(ROOT, "flags", "*.flags")))
    assert len(paths) > 10
    for path in paths:
        name = os.path.basename(path)
        expected = next((m for m in ("auxiliary", "despoof", "lgsc", "mmdn") if name.startswith(f"{m}_")), "physstd")
        config, _ = _configs([f"--flagfile={path}"])
        assert config.method == expected, name


def test_own_flags_are_training_flags_and_train_defaults_are_the_method_s():
    from physstd.train import flags as train_flags
    from physstd.train.config import TrainConfig

    owners = train_flags.flag_owners()
    assert owners["a2"] == ["physstd"] and owners["dq_run"] == ["despoof"]
    # A method's own config's fields are its flags, with the help its class gives.
    assert {"a1", "steps", "beta"} <= set(methods.get("physstd").own_flags)
    assert {"dq_run", "train_dq"} <= set(methods.get("despoof").own_flags)
    shared = {field for field in TrainConfig.__dataclass_fields__ if field != "method_config"}
    assert not shared & {name for method in methods.NAMES
                         for name in methods.get(method).config_class.__dataclass_fields__}
    assert owners["discriminator_width"] == ["despoof", "physstd"] and "learning_rate" not in owners
    for name in methods.NAMES:
        method = methods.get(name)
        assert set(method.own_flags) <= set(train_flags.flag_names()), name
        assert method.display_name, name
        for flag in method.train_defaults:   # a default for a flag the method does not read would be dead
            assert name in owners.get(flag, [name]), (name, flag)


def _help(*args):
    """stdout of run_train.py <args> --help, and whether TensorFlow was imported (stderr must stay empty: no
    TensorFlow or CUDA log lines)."""
    script = ("import runpy, sys\n"
              f"sys.argv = ['run_train.py', *{list(args)!r}, '--help']\n"
              "try:\n"
              f"    runpy.run_path({os.path.join(ROOT, 'run_train.py')!r}, run_name='__main__')\n"
              "except SystemExit:\n"
              "    pass\n"
              "print('tensorflow imported:', 'tensorflow' in sys.modules)\n")
    result = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=120,
                            env=dict(os.environ, PYTHONPATH=ROOT, TF_CPP_MIN_LOG_LEVEL="0"))
    assert result.stderr == "", result.stderr[-2000:]
    listed = {line.split(":")[0][4:].replace("[no]", "") for line in result.stdout.splitlines()
              if line.startswith("  --")}
    return listed, result.stdout.rstrip().splitlines()[-1]


@pytest.mark.slow
def test_help_lists_the_shared_flags_and_the_method_s_without_importing_tensorflow():
    from physstd.train import flags as train_flags

    every = set(train_flags.flag_names())
    owned = set(train_flags.flag_owners())
    listed, imported = _help()
    assert listed == every and imported == "tensorflow imported: False"
    for name in methods.NAMES:
        listed, imported = _help(f"--method={name}")
        assert listed == (every - owned) | set(methods.get(name).own_flags), name
        assert imported == "tensorflow imported: False"
    listed, _ = _help("--method=auxiliary")
    assert "learning_rate" in listed and "image_size" in listed and "a2" not in listed and "dq_run" not in listed


def test_the_default_row_label_is_the_method_s_display_name(tmp_path):
    from physstd.eval import tables

    metrics_ = {"apcer": 0.125, "bpcer": 0.25, "acer": 0.1875, "apcer_definition": "worst_species"}
    expected = {"physstd": "PhySTD (ours)", "auxiliary": "Auxiliary (ours)", "despoof": "DeSpoof (ours)",
                "lgsc": "LGSC (ours)",
                None: "PhySTD (ours)"}   # None: a results.json of before the harness
    for method, label in expected.items():
        fold = {"fold": None, "num_samples": 8, "metrics": metrics_, **({"method": method} if method else {})}
        path = tmp_path / f"{method}.json"
        path.write_text(json.dumps({"format_version": 1, "protocol": "p1", "level": "video", "folds": [fold]}))
        assert tables.default_row_label([fold]) == label
        table, results = tables.evaluation_tables(str(path), "oulu")
        assert list(results) == [label] and results[label]["1"]["acer"] == 0.1875
        assert list(tables.evaluation_tables(str(path), "oulu", row_label="mine")[1]) == ["mine"]
