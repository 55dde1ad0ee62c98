"""Generation time of the default synthetic set (`python -m benchmarks.synthetic`).

For each --image_sizes N: physstd.data.synthetic.generate into a temporary folder with the default set
(10 identities, 2 live + 6 spoof videos each, 4 frames per video: 320 raw frames), raw rendering plus
preparation through FacePreprocessor (dlib on every raw frame), protocols included. Prints wall time, raw
and prepared frames, frames/s, the CPU time of the generation (user + system, this process and its workers: the
figure to compare on a machine shared with other jobs), and how many packaged photos dlib finds a face in. Goal:
< 120 s per N on 2 cores. --nosensor_depth times the set without its depth camera (the RGB set), to measure what depth costs.
"""
import resource
import shutil
import sys
import tempfile
import time

from absl import app, flags

flags.DEFINE_list("image_sizes", ["64", "256"], "crop sizes N to time")
flags.DEFINE_integer("workers", 2, "processes (the goal is stated for 2 cores)")
flags.DEFINE_integer("seed", 0, "seed of the generated set")
flags.DEFINE_bool("sensor_depth", True, "render the depth camera (--nosensor_depth: the RGB set)")
FLAGS = flags.FLAGS


def cpu_seconds():
    """User + system CPU seconds of this process and of its finished child processes (the generator's workers)."""
    return sum(usage.ru_utime + usage.ru_stime for usage in (resource.getrusage(resource.RUSAGE_SELF),
                                                             resource.getrusage(resource.RUSAGE_CHILDREN)))


def main(argv):
    del argv
    from physstd.data import synthetic

    start = time.monotonic()
    faces = synthetic.count_packaged_faces()
    print(f"packaged photos with a face (dlib, {time.monotonic() - start:.1f} s): astronaut {faces['astronaut']}, "
          f"grace_hopper {faces['grace_hopper']}, lfw_subset {faces['lfw_subset']} of {faces['lfw_total']} "
          f"(upscaled to {synthetic.LFW_SIZE} px)")
    print(f"{'N':>5} {'raw px':>7} {'videos':>6} {'raw frames':>10} {'prepared':>8} {'raw s':>6} {'total s':>8} "
          f"{'frames/s':>8} {'cpu s':>7}")
    for size in (int(s) for s in FLAGS.image_sizes):
        folder = tempfile.mkdtemp(prefix=f"synthetic{size}-")
        before = cpu_seconds()
        try:
            summary = synthetic.generate(folder, size, seed=FLAGS.seed, workers=FLAGS.workers,
                                         sensor_depth=FLAGS.sensor_depth)
        finally:
            shutil.rmtree(folder, ignore_errors=True)
        cpu = cpu_seconds() - before
        print(f"{size:>5} {synthetic.raw_size(size):>7} {summary.videos:>6} {summary.raw_frames:>10} "
              f"{summary.prepared.frames_written:>8} {summary.seconds_raw:>6.1f} {summary.seconds_total:>8.1f} "
              f"{summary.raw_frames / summary.seconds_total:>8.1f} {cpu:>7.1f}", flush=True)
        if not summary.ok:
            print(summary.prepared.format(), file=sys.stderr)
    return 0


if __name__ == "__main__":
    app.run(main)
