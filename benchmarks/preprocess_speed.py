"""Preprocessing speed (frames/s) of run_preprocess.py on generated videos of a real face.

    python -m benchmarks.preprocess_speed                      # 2 videos x 60 frames, 640x480, N = 256
    python -m benchmarks.preprocess_speed --width=1920 --height=1080 --workers=2

Each video shows skimage's astronaut photo moving across a frame of the given size (MJPG .avi, the
face about 40% of the frame height), so detection, landmarks, crop, 3D fit, depth, P0 and PNG writing all
run as on a real dataset. The figure is the `speed:` line of run_preprocess's own summary.
"""
import os
import subprocess
import sys
import tempfile

import cv2
import numpy as np
import skimage.data
from absl import app, flags

flags.DEFINE_integer("width", 640, "Video frame width.")
flags.DEFINE_integer("height", 480, "Video frame height.")
flags.DEFINE_integer("frames", 60, "Frames per video.")
flags.DEFINE_integer("videos", 2, "Number of videos.")
flags.DEFINE_integer("image_size", 256, "Crop size N.")
flags.DEFINE_integer("workers", 1, "run_preprocess --workers.")
FLAGS = flags.FLAGS


def write_video(path, width, height, frames, seed):
    face = skimage.data.astronaut()
    side = int(0.8 * height)   # the 512 px photo's face is ~half its height
    face = cv2.cvtColor(cv2.resize(face, (side, side), interpolation=cv2.INTER_AREA), cv2.COLOR_RGB2BGR)
    rng = np.random.default_rng(seed)
    background = rng.integers(0, 256, (height, width, 3), dtype=np.uint8)
    writer = cv2.VideoWriter(path, cv2.VideoWriter_fourcc(*"MJPG"), 30, (width, height))
    for k in range(frames):
        frame = background.copy()
        x = int((width - side) * (0.5 + 0.3 * np.sin(k / 10)))
        y = (height - side) // 2
        frame[y:y + side, x:x + side] = face
        writer.write(frame)
    writer.release()


def main(argv):
    del argv
    with tempfile.TemporaryDirectory() as temp:
        raw = os.path.join(temp, "raw", "live")
        os.makedirs(raw)
        for v in range(FLAGS.videos):
            write_video(os.path.join(raw, f"video{v}.avi"), FLAGS.width, FLAGS.height, FLAGS.frames, v)
        command = [sys.executable, "run_preprocess.py", "--dataset=folder", f"--input_dir={temp}/raw",
                   f"--output_dir={temp}/out", f"--image_size={FLAGS.image_size}", f"--workers={FLAGS.workers}"]
        print(f"{FLAGS.videos} videos x {FLAGS.frames} frames of {FLAGS.width}x{FLAGS.height}, "
              f"N = {FLAGS.image_size}, workers = {FLAGS.workers}, {os.cpu_count()} CPUs")
        result = subprocess.run(command, cwd=os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                                capture_output=True, text=True)
        print(result.stdout, end="")
        if result.returncode:
            print(result.stderr, file=sys.stderr)
        return result.returncode


if __name__ == "__main__":
    app.run(main)
