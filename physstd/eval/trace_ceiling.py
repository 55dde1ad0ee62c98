"""The supervised ceiling of trace recovery on the synthetic set: the PhySTD generator trained to regress its
additive trace T_A = [B]n1 + [C]n2 + T onto the set's true T_A (truth.npz), which PhySTD itself never sees. Its
recovery bounds what one frame and this network size let any model recover (experiments/trace_ceiling.py prints
it next to PhySTD runs; physstd.eval.trace_recovery scores a saved one as a reference row)."""
import numpy as np


def load_frames(data_root, video_ids, image_size):
    """(images, true traces, true inpainting masks (F, N, N, 1), labels) of every frame of video_ids (numpy)."""
    from physstd.data import pipeline

    parts = {"image": [], "true_trace": [], "true_mask": [], "label": []}
    for batch in pipeline.eval_dataset(data_root, video_ids, image_size, 64, include_truth=True):
        for key in parts:
            parts[key].append(batch[key].numpy())
    return tuple(np.concatenate(parts[key]) for key in parts)


def train_supervised(images, traces, masks, labels, model_config, steps, batch_size, learning_rate, seed,
                     jit_compile):
    """A Generator whose T_A is fitted to the true trace (mean squared error outside the true inpainting region)."""
    import keras
    import tensorflow as tf

    from physstd import trace
    from physstd.models import Generator

    keras.utils.set_random_seed(seed)
    generator = Generator(model_config)
    optimizer = keras.optimizers.Adam(learning_rate)

    @tf.function(jit_compile=jit_compile)
    def step(x, target, weight):
        with tf.GradientTape() as tape:
            predicted = trace.additive_trace(generator(x, training=True), model_config)
            loss = tf.reduce_mean(weight * tf.square(predicted - target))
        variables = generator.trainable_variables
        # The depth network gets no gradient from a trace loss: leave it out of the update.
        optimizer.apply_gradients([(g, v) for g, v in zip(tape.gradient(loss, variables), variables) if g is not None])
        return loss

    keep = (masks == 0).astype(np.float32)
    rng = np.random.default_rng(seed)
    live, spoof = np.flatnonzero(labels == 0), np.flatnonzero(labels == 1)
    half = batch_size // 2
    for k in range(steps):
        chosen = np.concatenate([rng.choice(live, half), rng.choice(spoof, half)])
        loss = step(images[chosen], traces[chosen], keep[chosen])
        if k == 0 or (k + 1) % 200 == 0:
            print(f"step {k + 1}/{steps}: loss {float(loss):.5f}", flush=True)
    return generator
