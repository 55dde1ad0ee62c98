"""TensorBoard summaries and the console progress line of a training run.

Scalars (every --summary_every steps): each loss under `loss/`, `learning_rate/generator`,
`learning_rate/discriminator`, `speed/steps_per_second`; dev AUCs under `dev/`. Images (every
--image_summary_every steps): one grid per batch, a row per sample (live rows first, then spoof rows) and the
columns of GRID_COLUMNS. Traces are shown as 0.5 + 0.5 x / max|x| per panel (so faint traces stay visible);
the depth map and its target are scaled up to N with nearest-neighbour.
"""
import time

import numpy as np

GRID_COLUMNS = ("input", "B", "C", "T", "P", "I_P", "live reconstruction", "synthesized spoof", "depth M",
                "depth target M0")
CONSOLE_LOSSES = (("depth", "depth"), ("adversarial", "G"), ("discriminator", "D"), ("inpainting_mask", "P"),
                  ("synthesis", "S"), ("hard_depth", "H"))


def _signed(x):
    """A trace in [-1, 1] as an image in [0, 1], stretched by its own largest magnitude."""
    peak = np.max(np.abs(x))
    return 0.5 + 0.5 * x / peak if peak > 0 else np.full_like(x, 0.5)


def _rgb(x):
    return np.repeat(x, 3, axis=-1) if x.shape[-1] == 1 else x


def _upsample(x, size):
    factor = size // x.shape[0]
    return np.repeat(np.repeat(x, factor, axis=0), factor, axis=1)


def image_grid(visuals):
    """(1, rows * N, len(GRID_COLUMNS) * N, 3) float32 in [0, 1] from the numpy arrays of trainer.visuals()."""
    images = visuals["image"]
    size = images.shape[1]
    rows = []
    for i in range(images.shape[0]):
        panels = [images[i]]
        panels += [_signed(visuals[name][i]) for name in ("B", "C", "T")]
        panels += [_rgb(visuals["P"][i]), visuals["I_P"][i], visuals["reconstruction"][i], visuals["synthesis"][i]]
        panels += [_rgb(_upsample(visuals[name][i], size)) for name in ("M", "depth_target")]
        rows.append(np.concatenate([np.clip(p, 0.0, 1.0) for p in panels], axis=1))
    return np.concatenate(rows, axis=0)[None].astype(np.float32)


class Summaries:
    """TensorBoard writer of one run (a no-op writer on non-chief workers)."""

    def __init__(self, log_dir, enabled=True):
        import tensorflow as tf

        self._tf = tf
        self.writer = tf.summary.create_file_writer(log_dir) if enabled else tf.summary.create_noop_writer()

    def scalars(self, step, values, prefix=""):
        with self.writer.as_default(step=int(step)):
            for name, value in values.items():
                self._tf.summary.scalar(prefix + name, float(value))

    def image(self, step, name, grid, description=""):
        with self.writer.as_default(step=int(step)):
            self._tf.summary.image(name, grid, max_outputs=1, description=description)

    def flush(self):
        self.writer.flush()


class ProgressLine:
    """'step 120/300 | 2.10 steps/s | depth 0.1234 G 0.98 ...' from the losses of the last step."""

    def __init__(self, total_steps, start_step):
        self.total = total_steps
        self._last_step, self._last_time = start_step, time.perf_counter()

    def steps_per_second(self, step):
        """Rate since the previous call (then resets the clock)."""
        now = time.perf_counter()
        rate = (step - self._last_step) / max(now - self._last_time, 1e-9)
        self._last_step, self._last_time = step, now
        return rate

    def format(self, step, losses, rate, learning_rate):
        parts = [f"step {step}/{self.total}", f"{rate:.2f} steps/s"]
        parts += [f"{label} {losses[name]:.4g}" for name, label in CONSOLE_LOSSES if name in losses]
        parts.append(f"lr {learning_rate:.2e}")
        return " | ".join(parts[:2]) + " | " + " ".join(parts[2:-1]) + " | " + parts[-1]
