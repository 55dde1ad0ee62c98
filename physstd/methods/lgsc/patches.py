"""Training patches of LGSC ("Learning Generalized Spoof Cues for Face Anti-spoofing", Feng et al. 2020, Sec. 4.4,
Tab. 5 "Patched input"): a patch of the prepared face at its own resolution, never resized, so that the fine
texture of a print or a screen survives. Evaluation runs on the whole face (the cue generator is fully
convolutional)."""
import tensorflow as tf

from physstd.methods.lgsc.networks import check_input_size


def random_patches(images, patch_size, seed):
    """One patch_size x patch_size crop of each face (batch, n, n, c) at a uniform random position inside it, no
    resize. `seed`: a stateless seed, shape (2,) integers (e.g. (run seed, step)); the same seed gives the same
    crops. patch_size must be a multiple of 32 no larger than n (ValueError naming --patch_size); patch_size = n
    returns the faces unchanged."""
    images = tf.convert_to_tensor(images)
    check_input_size(patch_size, "--patch_size")
    side = images.shape[1]
    if images.shape.rank != 4 or side is None or images.shape[2] != side:
        raise ValueError(f"random_patches expects square faces (batch, n, n, c) of a known side, got shape "
                         f"{tuple(images.shape)}")
    if patch_size > side:
        raise ValueError(f"--patch_size={patch_size} is larger than the faces ({side} x {side}, --image_size)")
    if patch_size == side:
        return images
    offsets = tf.random.stateless_uniform((tf.shape(images)[0], 2), seed=seed, minval=0,
                                          maxval=side - patch_size + 1, dtype=tf.int32)
    window = tf.range(patch_size, dtype=tf.int32)
    rows = offsets[:, :1] + window                      # (batch, patch_size)
    columns = offsets[:, 1:] + window
    patches = tf.gather(images, rows, axis=1, batch_dims=1)
    return tf.gather(patches, columns, axis=2, batch_dims=1)
