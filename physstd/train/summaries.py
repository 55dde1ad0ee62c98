"""TensorBoard summaries and the console progress line of a training run.

Scalars (every --summary_every steps): each loss under `loss/`, `learning_rate/generator`,
`learning_rate/discriminator`, `speed/steps_per_second`; dev AUCs under `<subset>/auc_*` (`dev/`, or `train/`
for protocols without a development list). Images (every --image_summary_every steps): the method's image grid
(Method.image_grid) of a fixed batch, under `train/traces`.
"""
import time

CONSOLE_LOSSES = (("depth", "depth"), ("adversarial", "G"), ("discriminator", "D"), ("inpainting_mask", "P"),
                  ("synthesis", "S"), ("hard_depth", "H"))


def _metadata(plugin_name, description=""):
    """A serialized SummaryMetadata naming the TensorBoard plugin that displays the tensor."""
    from tensorflow.core.framework import summary_pb2

    return summary_pb2.SummaryMetadata(
        summary_description=description,
        plugin_data=summary_pb2.SummaryMetadata.PluginData(plugin_name=plugin_name)).SerializeToString()


class Summaries:
    """TensorBoard event writer of one run (a no-op writer on non-chief workers).

    Written with the core `tf.summary.write` in the formats of TensorBoard's scalar and image plugins, so
    training does not need the tensorboard package; viewing does (`pip install tensorboard`).
    """

    def __init__(self, log_dir, enabled=True):
        import tensorflow as tf

        self._tf = tf
        self.writer = tf.summary.create_file_writer(log_dir) if enabled else tf.summary.create_noop_writer()

    def scalars(self, step, values, prefix=""):
        tf = self._tf
        with self.writer.as_default():
            for name, value in values.items():
                tf.summary.write(prefix + name, tf.constant(float(value), tf.float32), step=int(step),
                                 metadata=_metadata("scalars"))

    def image(self, step, name, grid, description=""):
        """grid: (1, H, W, 3) float in [0, 1], stored as one PNG."""
        tf = self._tf
        png = tf.io.encode_png(tf.image.convert_image_dtype(grid[0], tf.uint8, saturate=True))
        height, width = grid.shape[1:3]
        tensor = tf.stack([tf.constant(str(width)), tf.constant(str(height)), png])
        with self.writer.as_default():
            tf.summary.write(name, tensor, step=int(step), metadata=_metadata("images", description))

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
        shown = [(name, label) for name, label in CONSOLE_LOSSES if name in losses]
        # A method whose losses have other names (physstd.methods) shows all of them, by name.
        parts += [f"{label} {losses[name]:.4g}" for name, label in shown or [(name, name) for name in losses]]
        parts.append(f"lr {learning_rate:.2e}")
        return " | ".join(parts[:2]) + " | " + " ".join(parts[2:-1]) + " | " + parts[-1]
