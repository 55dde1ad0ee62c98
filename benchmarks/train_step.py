"""Train-step speed, FLOPs and memory per method: float32 vs mixed precision vs XLA (the PhySTD paper's
setting: N = 256, batch 8).

    python -m benchmarks.train_step                        # PhySTD, N=256, width 1, batch 8, all variants
    python -m benchmarks.train_step --image_size=64 --width=0.25 --variants=fp32,xla
    python -m benchmarks.train_step --method=physstd,auxiliary,despoof --variants=fp32   # one table, one peak

Each method and variant runs in its own subprocess (so its peak memory is its own): build the trainer, run
--warmup steps (tracing / XLA compilation; reported as "first step"), then time --steps steps on a fixed random
batch (physstd.data.toy) and report the median step time, images/s (batch / step time) and peak memory:
tf.config.experimental.get_memory_info('GPU:0')['peak'] on a GPU, the process's peak RSS on the CPU.

FLOPs per step are counted on the graph of the trainer's train step (physstd.flops: the ops that run,
nested function bodies included, the backward pass's Conv2DBackpropInput and Conv2DBackpropFilter too), twice:
TensorFlow's profiler statistics of every op, and an analytic count of the convolutions and their gradients.
With XLA it is the same graph, counted before compilation. Achieved GFLOP/s = profiler FLOPs / median step time,
as a fraction of this machine's float32 peak, measured once in the parent process before the steps (the higher of
a 4096^2 matmul and a 3 x 3 convolution, as benchmarks.inference; --nopeak skips it). Mixed precision does its
FLOPs in float16, still shown against the float32 peak.
"""
import json
import os
import resource
import subprocess
import sys
import time

from absl import app, flags

from physstd import cli

VARIANTS = {"fp32": {}, "mixed": {"mixed_precision": True}, "xla": {"jit_compile": True},
            "mixed_xla": {"mixed_precision": True, "jit_compile": True}}

flags.DEFINE_integer("image_size", 256, "face crop size N")
flags.DEFINE_float("width", 1.0, "channel multiplier")
flags.DEFINE_integer("batch_size", 8, "global batch (half live, half spoof)")
flags.DEFINE_integer("steps", 3, "timed steps per variant")
flags.DEFINE_integer("warmup", 1, "untimed steps first (tracing / compilation)")
flags.DEFINE_list("variants", ["fp32", "mixed", "xla"], f"any of {', '.join(VARIANTS)}")
flags.DEFINE_string("alg_steps", "123", "Alg. 1 steps in the train step (1, 12, 123)")
flags.DEFINE_list("method", ["physstd"], "methods whose trainers are timed (physstd.methods), comma-separated")
flags.DEFINE_string("dq_run", "", "despoof: the Auxiliary run used as DQ-Net; empty: a freshly initialised "
                    "AuxiliaryNet (a step costs the same whatever the frozen DQ-Net's weights)")
flags.DEFINE_boolean("peak", True, "measure this machine's float32 peak (for the fraction of peak)")
flags.DEFINE_integer("peak_repeats", 5, "timed calls of each peak measurement (median)")
flags.DEFINE_string("_child", "", "internal: run one variant of --method and print its JSON result")
FLAGS = flags.FLAGS


def _measure(method, variant):
    """Build, warm up, time and count the FLOPs of one method's variant in this process; returns a dict of figures."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import numpy as np
    import tensorflow as tf

    from physstd import methods
    from physstd.data import face_model
    from physstd.data.toy import random_batch
    from physstd.flops import convolution_flops, profiler_flops
    from physstd.models import ModelConfig
    from physstd.train.config import TrainConfig

    own = {"physstd": {"steps": FLAGS.alg_steps}, "despoof": {"dq_run": FLAGS.dq_run}}.get(method, {})
    config = TrainConfig(method=method, batch_size=FLAGS.batch_size,
                         method_config=methods.get(method).config_class(**own), **VARIANTS[variant])
    model_config = ModelConfig(image_size=FLAGS.image_size, width=FLAGS.width)
    if config.method == "despoof" and not FLAGS.dq_run:   # timing only: an untrained DQ-Net, no Auxiliary run needed
        from physstd.methods.auxiliary.network import AuxiliaryNet
        from physstd.methods.despoof.trainer import DeSpoofTrainer

        strategy = tf.distribute.get_strategy()
        with strategy.scope():
            dq_net = AuxiliaryNet(model_config)
        trainer = DeSpoofTrainer(model_config, config, face_model.NUM_LANDMARKS, strategy, dq_net=dq_net)
    else:
        trainer = methods.get(config.method).trainer(model_config, config, face_model.NUM_LANDMARKS,
                                                     tf.distribute.get_strategy())
    batch = random_batch(FLAGS.image_size, config.pairs_per_batch, seed=0,
                         input_keys=methods.get(method).input_keys)
    start = time.perf_counter()
    for _ in range(FLAGS.warmup):
        losses = {name: float(value) for name, value in trainer.train_step(batch).items()}
    first = time.perf_counter() - start
    times = []
    for _ in range(FLAGS.steps):
        start = time.perf_counter()
        losses = {name: float(value) for name, value in trainer.train_step(batch).items()}  # waits for the step
        times.append(time.perf_counter() - start)
    gpus = tf.config.list_logical_devices("GPU")
    if gpus:
        peak, where = tf.config.experimental.get_memory_info("GPU:0")["peak"] / 2**20, "GPU"
    else:
        peak, where = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, "RSS"
    graph = trainer.train_step.get_concrete_function(batch).graph   # already traced: counted after the memory peak
    step = float(np.median(times))
    return {"method": method, "variant": variant, "first_step_s": first, "step_s": step,
            "images_per_s": FLAGS.batch_size / step, "flops_profiler": profiler_flops(graph),
            "flops_convolution": convolution_flops(graph), "peak_mib": peak, "memory": where,
            "finite": bool(np.isfinite(list(losses.values())).all())}


def main(argv):
    del argv
    if FLAGS._child:
        print("RESULT " + json.dumps(_measure(FLAGS.method[0], FLAGS._child)), flush=True)
        return 0
    from physstd import methods

    for method in FLAGS.method:
        methods.check_name(method)
    unknown = [v for v in FLAGS.variants if v not in VARIANTS]
    if unknown:
        raise app.UsageError(f"--variants: unknown {unknown}; choose from {list(VARIANTS)}")
    import platform

    import tensorflow as tf

    from benchmarks.flops import describe_peak, measured_peak

    peak = measured_peak(repeats=FLAGS.peak_repeats) if FLAGS.peak else None   # before the steps, on an idle machine
    rows = [row for method in FLAGS.method for variant in FLAGS.variants if (row := _run_child(method, variant))]
    device = "GPU" if tf.config.list_physical_devices("GPU") else f"CPU ({os.cpu_count()} cores, {platform.machine()})"
    print(f"train step, Alg. 1 steps {FLAGS.alg_steps} (PhySTD): N={FLAGS.image_size}, width={FLAGS.width}, "
          f"batch {FLAGS.batch_size}, {FLAGS.steps} timed steps after {FLAGS.warmup} warm-up, on {device}")
    if peak:
        print(describe_peak(*peak))
    print("GFLOP/step: TensorFlow's profiler (all ops) / convolutions and their gradients (analytic); "
          "GFLOP/s and % of peak from the profiler's count")
    print("| method | variant | first step (s) | step (s) | images/s | GFLOP/step | GFLOP/s | % of peak | "
          "peak memory (MiB) | finite |")
    print("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |")
    for r in rows:
        achieved = r["flops_profiler"] / r["step_s"] / 1e9
        fraction = f"{100 * achieved / peak[0]:.1f}%" if peak else "-"
        print(f"| {r['method']} | {r['variant']} | {r['first_step_s']:.1f} | {r['step_s']:.3f} | "
              f"{r['images_per_s']:.2f} | {r['flops_profiler'] / 1e9:.2f} / {r['flops_convolution'] / 1e9:.2f} | "
              f"{achieved:.1f} | {fraction} | {r['peak_mib']:.0f} ({r['memory']}) | {r['finite']} |")
    return 0 if len(rows) == len(FLAGS.method) * len(FLAGS.variants) else 1


def _run_child(method, variant):
    """_measure(method, variant) in a subprocess; its dict of figures, or None (and its stderr) when it failed."""
    argv = [sys.executable, "-m", "benchmarks.train_step", f"--_child={variant}", f"--method={method}",
            f"--image_size={FLAGS.image_size}", f"--width={FLAGS.width}", f"--batch_size={FLAGS.batch_size}",
            f"--steps={FLAGS.steps}", f"--warmup={FLAGS.warmup}", f"--alg_steps={FLAGS.alg_steps}",
            f"--dq_run={FLAGS.dq_run}"]
    child = subprocess.run(argv, capture_output=True, text=True)
    lines = [line for line in child.stdout.splitlines() if line.startswith("RESULT ")]
    if child.returncode or not lines:
        print(f"{method} {variant}: failed\n{child.stderr[-3000:]}", file=sys.stderr)
        return None
    return json.loads(lines[-1][len("RESULT "):])


if __name__ == "__main__":
    cli.run(main)
