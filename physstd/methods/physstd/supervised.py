"""The supervised ceiling of trace recovery on the synthetic set: the PhySTD generator trained to regress its
additive trace T_A = [B]n1 + [C]n2 + T onto the set's true T_A (truth.npz, the frames of
physstd.eval.trace_ceiling.load_frames), which PhySTD itself never sees (experiments/trace_ceiling.py)."""
import keras
import numpy as np
import tensorflow as tf

from physstd import trace
from physstd.methods.physstd.generator import Generator


def train_supervised(images, traces, masks, labels, model_config, steps, batch_size, learning_rate, seed,
                     jit_compile):
    """A Generator whose T_A is fitted to the true trace (mean squared error outside the true inpainting region)."""
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
