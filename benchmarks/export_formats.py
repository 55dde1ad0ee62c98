"""Every export format of a trained run next to its SavedModel: size, agreement, test metrics and latency.

    .venv/bin/python -m benchmarks.export_formats --run_dir=RUN [--output_dir=DIR] [--int8_float_layers=REGEX]
    .venv/bin/python -m benchmarks.export_formats --run_dir=RUN --layers     # the int8 per-layer comparison
    .venv/bin/python -m benchmarks.export_formats --summary=DIR,DIR,...   # the accuracy columns over several runs

What it does:
1. exports the run with run_export.py (a subprocess) into --output_dir: the SavedModel, the LiteRT float32, float16,
   dynamic-range int8 and full-integer int8 files (int8 calibrated on --calibration_frames frames of the run's
   --calibration_split, train by default, never test) and the ONNX file;
2. reads every frame of the test split of the run's protocol (its flags.json), as uint8 crops (--eval_split=dev: the
   dev split's, for choosing --int8_float_layers without looking at test); for a method that takes sensor depth, the
   crops as float32 in [0, 1] with their depth normalised as the training pipeline normalises it;
3. runs each file in a fresh process (physstd.deploy.runtime: TensorFlow for the SavedModel, the LiteRT interpreter
   of ai-edge-litert or ONNX Runtime for the others; that process reports whether it imported TensorFlow) that
   scores every test frame; then times it in more fresh processes, one per thread count of --threads and round of
   --rounds, the rounds taking the files in turn: one face per call (batch 1), --warmup untimed calls, then the
   median of --repeats calls, cycling over the frames, output included; the smallest of the rounds is reported;
4. prints one table row per file: its size (and how many times smaller than the SavedModel folder), the largest
   |score difference| and the decision flips against the SavedModel on the test frames (frame decisions, and video
   decisions: the mean frame score against the calibrated threshold), the video AUC / ACER / APCER / BPCER at the
   run's calibrated threshold (metrics.evaluate, the protocol's APCER definition, as run_test.py), and the latency
   per face on 1 thread and on every core with its speed-up over the SavedModel's on as many threads.

--layers compares the int8 file with the float32 file op by op on --layer_frames frames of the calibration split
(never test): for every tensor both files hold (the int8 one dequantised), the correlation with the float32 value and
the RMS error over the float32 value's standard deviation, in execution order, with how much that relative error
grew at this op (the largest growths are where int8 loses the accuracy: keep those ops float32 with
--int8_float_layers and export again).

--ops profiles the int8 and float32 LiteRT files op by op: each op cut out of the file into a one-op model (its
tensors and constants kept) and timed alone on 1 thread (--repeats calls, their median, less the cheapest op's: the
call's own cost), summed by op kind and output type: which ops take the time, and which stayed float32.

--rounds=0 scores without timing. --summary reads the results (export_formats.json) of earlier runs of this
benchmark, one per output folder (one method's seeds, say), and prints per file the change of the video AUC and ACER
against each run's own SavedModel (each run, then their mean), the video decision flips and the largest |score
difference|: a test split where one video moves the ACER by a few points gets a finer reading from several runs.

--reuse measures the files an earlier run left in --output_dir; one it needs that is not there stops it before
anything is scored, with one `error:` line naming the files (exit status 2, as for a --summary folder without
results). An export or a measuring process that fails ends it with one `error:` line, that process's own last line
(exit status 1).
"""
import json
import os
import subprocess
import sys
import tempfile
import time

import numpy as np
from absl import app, flags

FLAGS = flags.FLAGS
flags.DEFINE_string("run_dir", None, "the trained run (flags.json, checkpoints/, calibration.json)")
flags.DEFINE_string("output_dir", "", "folder for the exports and the results (default: a folder under the "
                    "system's temporary folder named after the run)")
flags.DEFINE_list("litert_variants", ["float32", "float16", "dynamic_int8", "int8"], "LiteRT variants to measure")
flags.DEFINE_string("calibration_split", "train", "train or dev: the frames of the int8 calibration")
flags.DEFINE_integer("calibration_frames", 300, "frames of the int8 calibration")
flags.DEFINE_string("int8_float_layers", None, "run_export.py --int8_float_layers (selective quantisation; default "
                    "the method's own, --int8_float_layers= none)")
flags.DEFINE_enum("eval_split", "test", ["test", "dev"], "the split whose frames are scored and timed (dev: to choose "
                  "--int8_float_layers; the figures to report are test's)")
flags.DEFINE_bool("reuse", False, "measure the files already in --output_dir instead of exporting again")
flags.DEFINE_list("threads", ["1", "all"], "thread counts of the latency columns ('all': every core)")
flags.DEFINE_integer("warmup", 10, "untimed calls before the timed ones")
flags.DEFINE_integer("repeats", 100, "timed calls per measurement (their median is the measurement)")
flags.DEFINE_integer("rounds", 3, "measurements of each file and thread count, taken in turns over the files; the "
                     "smallest is reported (a shared machine's load comes in bursts)")
flags.DEFINE_bool("layers", False, "print the per-layer comparison of the int8 and float32 LiteRT files instead")
flags.DEFINE_integer("layer_frames", 32, "--layers: frames of the calibration split compared")
flags.DEFINE_bool("ops", False, "print the per-op latency profile of the int8 and float32 LiteRT files instead")
flags.DEFINE_list("summary", [], "output folders of earlier runs of this benchmark: print their accuracy columns "
                  "side by side instead (no --run_dir)")
flags.DEFINE_string("_worker", "", "internal: JSON arguments of one measuring process")

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


# --- one file in its own process --------------------------------------------------------------------------------
def worker(arguments):
    """Load one export on `threads` threads, then score the frames (`score`) or time batch-1 calls; write a JSON
    result."""
    from physstd.deploy import runtime

    inputs = [np.load(name) for name in arguments["inputs"]]   # the crops, and their depth for an RGB-D model
    model = runtime.load(arguments["path"], arguments["threads"])
    result = {}
    if arguments["score"]:
        outputs = model.run(*inputs)
        np.savez(arguments["scores"], score=outputs["score"], decision=outputs["decision"])
    else:
        for _ in range(arguments["warmup"]):
            model.run(*[values[:1] for values in inputs])
        times = []
        for index in range(arguments["repeats"]):
            face = [values[index % len(values)][None] for values in inputs]
            start = time.perf_counter()
            model.run(*face)
            times.append(time.perf_counter() - start)
        result["ms_per_face"] = 1e3 * float(np.median(times))
    result["tensorflow_imported"] = "tensorflow" in sys.modules
    with open(arguments["result"], "w") as stream:
        json.dump(result, stream)


def _last_line(stderr):
    """What a failed child process said last (its error line, or its exception's), without an `error: ` prefix."""
    lines = [line.strip() for line in stderr.splitlines() if line.strip()]
    return lines[-1].removeprefix("error: ") if lines else "no message"


def measure(path, input_files, threads, score, folder):
    """The worker's result for one file and thread count (a fresh Python process); `input_files`: the .npy files of
    the model's inputs (crops, and depth for an RGB-D model)."""
    name = f"{os.path.basename(path)}.{threads}"
    arguments = {"path": path, "inputs": input_files, "threads": threads, "score": score,
                 "scores": os.path.join(folder, f"{name}.scores.npz"), "result": os.path.join(folder, f"{name}.json"),
                 "warmup": FLAGS.warmup, "repeats": FLAGS.repeats}
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", PYTHONPATH=ROOT)
    run = subprocess.run([sys.executable, "-m", "benchmarks.export_formats", f"--_worker={json.dumps(arguments)}"],
                         cwd=ROOT, env=env, capture_output=True, text=True)
    if run.returncode:
        raise RuntimeError(f"{path} on {threads} threads failed: {_last_line(run.stderr)}")
    with open(arguments["result"]) as stream:
        result = json.load(stream)
    if score:
        result["outputs"] = dict(np.load(arguments["scores"]))
    return result


# --- the run's data -----------------------------------------------------------------------------------------------
def split_frames(run_dir, split="test"):
    """([model inputs], video ids, labels, species) of every frame of a split of the run's protocol: [uint8 crops],
    or for a method that takes sensor depth [float32 crops in [0, 1], their normalised depth (F, N, N, 1)]."""
    from physstd import methods, runs
    from physstd.data import prepared, protocols
    from physstd.deploy import convert

    train = runs.read_run_flags(run_dir)["train"]
    split_dir = train.get("split_dir") or os.path.join(train["data_root"], "protocols")
    dataset = prepared.PreparedDataset(train["data_root"])
    frames, videos, labels, species, pairs = [], [], [], [], []
    for video in protocols.load_split(split_dir, train["protocol"], split, train.get("fold") or None):
        row = dataset.row(video)
        loaded = dataset.load_frames(video)
        frames.append(loaded)
        videos += [video] * len(loaded)
        labels += [int(row["label"])] * len(loaded)
        species += [row["spoof_type"]] * len(loaded)
        pairs += [(video, k) for k in range(len(loaded))]
    inputs = [np.concatenate(frames)]
    if "sensor_depth" in methods.get(train.get("method", "physstd")).input_keys:
        inputs = [inputs[0].astype(np.float32) / np.float32(255.0), convert.normalised_depth(dataset, pairs)]
    return inputs, np.array(videos), np.array(labels), np.array(species), (split_dir, train)


def folder_bytes(path):
    if os.path.isfile(path):
        return os.path.getsize(path)
    return sum(os.path.getsize(os.path.join(folder, name)) for folder, _, names in os.walk(path) for name in names)


# --- the comparison -----------------------------------------------------------------------------------------------
def video_metrics(scores, videos, labels, species, threshold, apcer):
    from physstd.eval import metrics, scoring

    _, video_scores, video_labels, video_species = scoring.video_scores(videos, scores, labels, species)
    return video_scores, metrics.evaluate(video_labels, video_scores, threshold, video_species, apcer=apcer)


def export(output):
    command = [sys.executable, os.path.join(ROOT, "run_export.py"), f"--run_dir={FLAGS.run_dir}",
               f"--export_dir={os.path.join(output, 'model')}", "--format=savedmodel,litert,onnx",
               f"--litert_variants={','.join(FLAGS.litert_variants)}", f"--calibration_split={FLAGS.calibration_split}",
               f"--calibration_frames={FLAGS.calibration_frames}"]
    if FLAGS.int8_float_layers is not None:
        command.append(f"--int8_float_layers={FLAGS.int8_float_layers}")
    run = subprocess.run(command, cwd=ROOT, env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3"), capture_output=True,
                         text=True)
    if run.returncode:
        raise RuntimeError(f"run_export.py failed: {_last_line(run.stderr)}")
    print(run.stdout.strip())


def compared_files(output):
    """[(format, variant, path)] of the files the comparison measures in `output`: the SavedModel first, the LiteRT
    files of --litert_variants, the ONNX file."""
    from physstd import deploy

    base = os.path.join(output, "model")
    litert = [("litert", variant, deploy.litert_path(base, variant)) for variant in FLAGS.litert_variants]
    return [("savedmodel", "float32", base)] + litert + [("onnx", "float32", deploy.onnx_path(base))]


def missing_files(output):
    """The files --reuse would read from `output` that are not there: the compared files (compared_files), or the
    float32 and int8 LiteRT files for --layers and --ops."""
    from physstd import deploy

    if FLAGS.layers or FLAGS.ops:
        paths = [deploy.litert_path(os.path.join(output, "model"), variant) for variant in ("float32", "int8")]
    else:
        paths = [path for _, _, path in compared_files(output)]
    return [path for path in paths if not os.path.exists(path)]


def compare(output):
    from physstd.eval import evaluate

    inputs, videos, labels, species, (split_dir, train) = split_frames(FLAGS.run_dir, FLAGS.eval_split)
    apcer = evaluate.protocol_apcer(split_dir, train["protocol"])
    input_files = [os.path.join(output, f"{FLAGS.eval_split}_{name}.npy") for name in ("frames", "depth")[:len(inputs)]]
    for name, values in zip(input_files, inputs):
        np.save(name, values)
    files = compared_files(output)
    threads = [0 if count == "all" else int(count) for count in FLAGS.threads]
    rows, reference = [], None
    with tempfile.TemporaryDirectory() as scratch:
        for format_name, variant, path in files:
            scored = measure(path, input_files, 0, True, scratch)
            outputs = scored["outputs"]
            threshold = _threshold(path)
            scores = outputs["score"].astype(np.float64)
            video_scores, found = video_metrics(scores, videos, labels, species, threshold, apcer)
            if reference is None:
                reference = {"scores": scores, "decision": outputs["decision"], "video": video_scores,
                             "threshold": threshold}
            rows.append({"format": format_name, "variant": variant, "path": path, "bytes": folder_bytes(path),
                         "metrics": {k: found[k] for k in ("auc", "acer", "apcer", "bpcer")},
                         "max_score_difference": float(np.max(np.abs(scores - reference["scores"]))),
                         "frame_flips": int(np.sum(outputs["decision"] != reference["decision"])),
                         "video_flips": int(np.sum((video_scores >= threshold) !=
                                                   (reference["video"] >= reference["threshold"]))),
                         "ms_per_face": {}, "tensorflow_imported": scored["tensorflow_imported"]})
            print(f"scored {format_name} {variant}", flush=True)
        for round_index in range(FLAGS.rounds):
            for row in rows:
                for count in threads:
                    result = measure(row["path"], input_files, count, False, scratch)
                    key = str(count or "all")
                    row["ms_per_face"][key] = min(row["ms_per_face"].get(key, np.inf), result["ms_per_face"])
                    row["tensorflow_imported"] |= result["tensorflow_imported"]
            print(f"timed round {round_index + 1} of {FLAGS.rounds}", flush=True)
    return rows, {"frames": int(len(videos)), "videos": int(len(set(videos.tolist()))), "apcer": apcer}


def _threshold(path):
    from physstd.deploy import runtime

    if os.path.isdir(path):
        with open(os.path.join(path, "physstd_export.json")) as stream:
            return float(json.load(stream)["threshold"])
    return float(runtime.read_metadata(path)["threshold"])


def _float_layers(rows):
    """The --int8_float_layers the int8 file was converted with (its metadata), or None without an int8 file."""
    from physstd.deploy import runtime

    paths = [row["path"] for row in rows if row["format"] == "litert" and row["variant"] == "int8"]
    return runtime.read_metadata(paths[0])["quantization"]["float_layers"] if paths else None


def table(rows, counts):
    """The markdown table of the module doc."""
    base = rows[0]
    labels = [str(t) for t in base["ms_per_face"]]
    with_tensorflow = [f"{row['format']} {row['variant']}" for row in rows if row["tensorflow_imported"]]
    timing = (f"latency = median ms per face at batch 1 ({', '.join(labels)} threads), the smallest of "
              f"{FLAGS.rounds} rounds" if labels else "not timed (--rounds=0)")
    lines = [f"{counts['frames']} {FLAGS.eval_split} frames, {counts['videos']} videos; metrics at video level, "
             f"APCER {counts['apcer']}; {timing}; processes that imported TensorFlow: {', '.join(with_tensorflow)}",
             "",
             "| format | variant | MB | smaller | max abs score diff | flips frame/video | AUC % | ACER % | APCER % | "
             "BPCER % |" + "".join(f" ms ({t} thr) |" for t in labels)
             + (" speed-up (" + ", ".join(labels) + ") |" if labels else ""),
             "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|" + "---:|" * (len(labels) + bool(labels))]
    for row in rows:
        found = row["metrics"]
        speed = ", ".join(f"{base['ms_per_face'][t] / row['ms_per_face'][t]:.1f}x" for t in labels)
        lines.append(f"| {row['format']} | {row['variant']} | {row['bytes'] / 1e6:.2f} | "
                     f"{base['bytes'] / row['bytes']:.1f}x | {row['max_score_difference']:.1e} | "
                     f"{row['frame_flips']}/{row['video_flips']} | {100 * found['auc']:.2f} | {100 * found['acer']:.2f} | "
                     f"{100 * found['apcer']:.2f} | {100 * found['bpcer']:.2f} |"
                     + "".join(f" {row['ms_per_face'][t]:.2f} |" for t in labels) + (f" {speed} |" if labels else ""))
    return "\n".join(lines)


# --- several runs side by side -----------------------------------------------------------------------------------
def read_results(folders):
    """The export_formats.json records of `folders`; a ValueError naming the first one missing or unreadable."""
    records = []
    for folder in folders:
        path = os.path.join(folder, "export_formats.json")
        try:
            with open(path) as stream:
                records.append(json.load(stream))
        except (OSError, ValueError) as error:
            raise ValueError(f"{path}: not a result of this benchmark ({error.__class__.__name__}); run "
                             f"`python -m benchmarks.export_formats --run_dir=RUN --output_dir={folder}` first") from None
    return records


def summary(records):
    """The markdown table of --summary: per converted file, over the runs of `records` (export_formats.json, each
    with its SavedModel first), the change in video AUC and ACER points against that run's SavedModel, the video
    flips and the largest |score difference|."""
    kinds = [(row["format"], row["variant"]) for row in records[0]["rows"][1:]]

    def layers(record):
        found = record.get("int8_float_layers")
        return "no int8 file" if found is None else f"int8 float layers '{found}'"

    lines = [f"{len(records)} runs: " + "; ".join(f"{os.path.basename(r['run_dir'])} ({layers(r)})" for r in records),
             "",
             "| format | variant | AUC change, points: each run (mean) | ACER change, points: each run (mean) | "
             "video flips: each run (total) | max abs score diff |",
             "|---|---|---|---|---|---:|"]

    def signed(value):
        return f"{round(float(value), 2) + 0.0:+.2f}"   # + 0.0: no "-0.00"

    def listed(values):
        return ", ".join(map(signed, values)) + f" ({signed(np.mean(values))})"

    for kind in kinds:
        pairs = []   # (this run's SavedModel row, its row of `kind`)
        for record in records:
            found = [row for row in record["rows"] if (row["format"], row["variant"]) == kind]
            if record["rows"][0]["format"] != "savedmodel" or not found:
                raise ValueError(f"{record['run_dir']}: its results hold no {' '.join(kind)} row next to a SavedModel "
                                 f"(measure the same variants on every run)")
            pairs.append((record["rows"][0], found[0]))
        changes = {key: [100 * (row["metrics"][key] - base["metrics"][key]) for base, row in pairs]
                   for key in ("auc", "acer")}
        flips = [row["video_flips"] for _, row in pairs]
        difference = max(row["max_score_difference"] for _, row in pairs)
        lines.append(f"| {kind[0]} | {kind[1]} | {listed(changes['auc'])} | {listed(changes['acer'])} | "
                     f"{', '.join(map(str, flips))} ({sum(flips)}) | {difference:.1e} |")
    return "\n".join(lines)


# --- the per-layer comparison -------------------------------------------------------------------------------------
def layer_comparison(float_path, int8_path, images, depth=None):
    """[(op, tensor name, correlation, relative RMS error, growth)] of the tensors two LiteRT files both hold, in the
    int8 file's execution order (int8 tensors dequantised with their scale and zero point); `depth`: the normalised
    depth of the images, for a model that takes it."""
    given = {"images": images} if depth is None else {"images": images, "depth": depth}
    from ai_edge_litert.interpreter import Interpreter, OpResolverType

    def tensors(path):
        # Without the XNNPACK delegate, which would hide the ops it runs behind one DELEGATE node.
        interpreter = Interpreter(model_path=path, experimental_preserve_all_tensors=True,
                                  experimental_op_resolver_type=OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES)
        interpreter.allocate_tensors()
        runner_inputs = interpreter.get_signature_runner().get_input_details()
        values = {}
        for frame in range(len(images)):
            for name, detail in runner_inputs.items():
                interpreter.set_tensor(detail["index"], given[name][frame][None])
            interpreter.invoke()
            for detail in interpreter.get_tensor_details():
                scale, zero = detail["quantization"]
                try:
                    value = interpreter.get_tensor(detail["index"])
                except ValueError:
                    continue
                if value.dtype in (np.int8, np.uint8, np.int16) and scale:
                    value = (value.astype(np.float64) - zero) * scale
                elif value.dtype != np.float32:
                    continue
                values.setdefault(detail["name"], []).append(np.asarray(value, np.float64).ravel())
        # Tensor details are listed without the tensors that have none: a position in the list is not an index.
        names = {detail["index"]: detail["name"] for detail in interpreter.get_tensor_details()}
        order = [(op["op_name"], names.get(op["outputs"][0], ""), list(op["inputs"]))
                 for op in interpreter._get_ops_details() if len(op["outputs"])]
        return {name: np.concatenate(parts) for name, parts in values.items()}, order, names

    reference, _, _ = tensors(float_path)
    quantised, order, names = tensors(int8_path)
    errors, rows = {}, []
    for op, name, inputs in order:
        if op in ("QUANTIZE", "DEQUANTIZE") and name not in reference:   # the int8 file's own conversions: pass on
            errors[name] = max([errors.get(names.get(i), 0.0) for i in inputs if i >= 0] or [0.0])
            continue
        if name not in reference or name not in quantised or reference[name].shape != quantised[name].shape:
            continue
        a, b = reference[name], quantised[name]
        if a.std() == 0:
            continue
        correlation = float(np.corrcoef(a, b)[0, 1]) if b.std() > 0 else 0.0
        errors[name] = float(np.sqrt(np.mean((a - b) ** 2)) / a.std())
        before = max([errors.get(names.get(i), 0.0) for i in inputs if i >= 0] or [0.0])
        rows.append((op, name, correlation, errors[name], errors[name] - before))
    return rows


def layers(output):
    from physstd import deploy
    from physstd.deploy import convert, runtime   # TensorFlow: only for drawing the frames

    base = os.path.join(output, "model")
    images = convert.split_frames(FLAGS.run_dir, FLAGS.calibration_split, FLAGS.layer_frames, seed=1)
    depth = None
    if runtime.read_metadata(deploy.litert_path(base, "float32")).get("depth_units"):
        depth = convert.split_depth(FLAGS.run_dir, FLAGS.calibration_split, FLAGS.layer_frames, seed=1)
    rows = layer_comparison(deploy.litert_path(base, "float32"), deploy.litert_path(base, "int8"),
                            images.astype(np.float32) / np.float32(255.0), depth)
    print(f"int8 against float32 on {len(images)} {FLAGS.calibration_split} frames, in execution order "
          f"(growth: relative error added at this op)")
    print("| op | tensor | correlation | relative error | growth |\n|---|---|---:|---:|---:|")
    for op, name, correlation, error, growth in rows:
        print(f"| {op} | {name[:90]} | {correlation:.4f} | {error:.3f} | {growth:+.3f} |")


# --- the per-op profile --------------------------------------------------------------------------------------------
def _median_call_seconds(model, repeats):
    """Median seconds of one invoke of .tflite bytes on 1 thread (the default XNNPACK delegate), random inputs."""
    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(model_content=bytes(model), num_threads=1)
    interpreter.allocate_tensors()
    for detail in interpreter.get_input_details():
        values = np.random.default_rng(0).random(detail["shape"]) * (detail["dtype"] == np.float32)
        interpreter.set_tensor(detail["index"], values.astype(detail["dtype"]))
    for _ in range(FLAGS.warmup):
        interpreter.invoke()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        interpreter.invoke()
        times.append(time.perf_counter() - start)
    return float(np.median(times))


def op_profile(path, repeats):
    """({(op kind, output type): [count, seconds]}, seconds of the whole file): each op of a .tflite file cut out into
    a one-op model (its tensors and constants kept) and timed alone, less the cheapest op's time (the call's own)."""
    from ai_edge_litert import schema_py_generated as schema
    from ai_edge_litert.tools import flatbuffer_utils

    kinds = {code: name for name, code in vars(schema.BuiltinOperator).items() if not name.startswith("_")}
    types = {code: name for name, code in vars(schema.TensorType).items() if not name.startswith("_")}
    with open(path, "rb") as stream:
        model = flatbuffer_utils.read_model_from_bytearray(bytearray(stream.read()))
    model.metadata, model.signatureDefs = None, []
    graph = model.subgraphs[0]
    whole = _median_call_seconds(flatbuffer_utils.convert_object_to_bytearray(model), repeats)

    def constant(tensor):
        data = model.buffers[graph.tensors[tensor].buffer].data
        return data is not None and len(data) > 0

    timed = []
    for op in list(graph.operators):
        graph.operators, graph.outputs = [op], list(op.outputs)
        graph.inputs = [t for t in op.inputs if t >= 0 and not constant(t)]
        code = model.operatorCodes[op.opcodeIndex]
        key = (kinds[max(code.builtinCode, code.deprecatedBuiltinCode)], types[graph.tensors[op.outputs[0]].type])
        timed.append((key, _median_call_seconds(flatbuffer_utils.convert_object_to_bytearray(model), repeats)))
    floor = min(seconds for _, seconds in timed)
    found = {}
    for key, seconds in timed:
        entry = found.setdefault(key, [0, 0.0])
        entry[0] += 1
        entry[1] += seconds - floor
    return found, whole


def ops(output):
    from physstd import deploy

    base = os.path.join(output, "model")
    print(f"per-op profile: each op alone, 1 thread, the median of {FLAGS.repeats} calls less the cheapest op's")
    for variant in ("int8", "float32"):
        found, whole = op_profile(deploy.litert_path(base, variant), FLAGS.repeats)
        total = sum(seconds for _, seconds in found.values())
        print(f"\n{variant}: the whole file {1e3 * whole:.2f} ms; its {sum(c for c, _ in found.values())} ops alone "
              f"{1e3 * total:.2f} ms\n| op | output | count | ms | share |\n|---|---|---:|---:|---:|")
        for (kind, dtype), (count, seconds) in sorted(found.items(), key=lambda item: -item[1][1]):
            print(f"| {kind} | {dtype} | {count} | {1e3 * seconds:.2f} | {100 * seconds / total:.0f}% |")


def main(argv):
    del argv
    if FLAGS._worker:
        worker(json.loads(FLAGS._worker))
        return
    if FLAGS.summary:
        try:
            print(summary(read_results(FLAGS.summary)))
        except ValueError as error:
            print(f"error: {error}", file=sys.stderr)
            return 2
        return
    if not FLAGS.run_dir:
        raise app.UsageError("--run_dir is required")
    output = FLAGS.output_dir or os.path.join(tempfile.gettempdir(),
                                              f"export_formats_{os.path.basename(os.path.normpath(FLAGS.run_dir))}")
    if FLAGS.reuse:
        missing = missing_files(output)
        if missing:
            print(f"error: --reuse: {', '.join(missing)} not found; export them (run without --reuse) or name only the "
                  f"variants there with --litert_variants", file=sys.stderr)
            return 2
    os.makedirs(output, exist_ok=True)
    try:
        if not FLAGS.reuse:
            export(output)
        if FLAGS.layers:
            layers(output)
            return
        if FLAGS.ops:
            ops(output)
            return
        rows, counts = compare(output)
    except RuntimeError as error:   # a child process failed: its own last line says why
        print(f"error: {error}", file=sys.stderr)
        return 1
    print(f"run {FLAGS.run_dir}: {os.cpu_count()} CPUs")
    print(table(rows, counts))
    name = "export_formats.json" if FLAGS.eval_split == "test" else f"export_formats_{FLAGS.eval_split}.json"
    with open(os.path.join(output, name), "w") as stream:
        json.dump({"run_dir": os.path.abspath(FLAGS.run_dir), "split": FLAGS.eval_split, "counts": counts, "rows": rows,
                   "int8_float_layers": _float_layers(rows)}, stream, indent=2)


if __name__ == "__main__":
    app.run(main)
