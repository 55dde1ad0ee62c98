"""Dense bilinear warping with per-pixel offsets (PhySTD paper, Eq. 15: the 3D warping layer).

Replaces tensorflow-addons' `dense_image_warp` (end-of-life). Sign and order conventions differ from it:
here the offset is *added* to the output pixel position and channel 0 is dy, channel 1 is dx.
"""
import tensorflow as tf


def _cell(offset, index, size):
    """Integer cell corner and fraction along one axis for positions index + offset clamped to [0, size-1].

    The integer part of the offset is split off before it is added to the pixel index, so positions stay
    exact in float32 however far they are from the origin (adding first would round a 256-pixel position to
    ~1.5e-5 px). The corner is at most size-2, so the last row/column is the far edge (fraction 1) of the
    last cell: the value is right and the gradient there is that cell's slope."""
    whole = tf.floor(offset)
    fraction = offset - whole                        # exact, in [0, 1); carries the gradient
    corner = tf.stop_gradient(whole) + tf.cast(index, offset.dtype)
    last_corner = tf.cast(size - 2, offset.dtype)
    fraction = tf.where(corner < 0.0, tf.zeros_like(fraction),
                        tf.where(corner > last_corner, tf.ones_like(fraction), fraction))
    corner = tf.clip_by_value(corner, 0.0, tf.maximum(last_corner, 0.0))
    return tf.cast(corner, tf.int32), fraction[..., None]


def dense_warp(image, offsets):
    """Eq. 15: out[b, y, x] = bilinear sample of image[b] at (y + offsets[b,y,x,0], x + offsets[b,y,x,1]).

    image (B,H,W,C), offsets (B,H,W,2) (dy, dx) in pixels. Sample positions are clamped to [0, H-1] x
    [0, W-1], which equals scipy.ndimage.map_coordinates(order=1, mode='nearest') per channel.
    Differentiable w.r.t. image and offsets (the offset gradient is 0 where a position is clamped).
    float32 (float64 also works, for gradient checks); four gathers on flattened pixels; XLA-compilable.
    """
    image = tf.convert_to_tensor(image)
    offsets = tf.cast(offsets, image.dtype)
    shape = tf.shape(image)
    batch, height, width, channels = shape[0], shape[1], shape[2], shape[3]
    y0, fy = _cell(offsets[..., 0], tf.range(height)[:, None], height)
    x0, fx = _cell(offsets[..., 1], tf.range(width)[None, :], width)
    y1 = tf.minimum(y0 + 1, height - 1)
    x1 = tf.minimum(x0 + 1, width - 1)

    pixels = tf.reshape(image, [batch, height * width, channels])

    def gather(rows, cols):
        flat_index = tf.reshape(rows * width + cols, [batch, height * width])
        return tf.reshape(tf.gather(pixels, flat_index, batch_dims=1), [batch, height, width, channels])

    top_left, top_right = gather(y0, x0), gather(y0, x1)
    bottom_left, bottom_right = gather(y1, x0), gather(y1, x1)
    # (1 - f) a + f b rather than a + f (b - a): exact at f = 0 and f = 1, so zero offsets give the image back.
    top = (1.0 - fx) * top_left + fx * top_right
    bottom = (1.0 - fx) * bottom_left + fx * bottom_right
    return (1.0 - fy) * top + fy * bottom
