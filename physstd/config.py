"""Sizes derived from the image size N, in one place (PhySTD paper, Sec. 3.3, 3.4, 4.1).

Every other module asks this object for n1, n2, K and the discriminator sizes; no literal 32/128/96 is
repeated elsewhere. Paper values are for N = 256: n1 = 32, n2 = 128, K = 32, discriminators 32, 96, 256, 256.
The eight border anchors of the face triangulation (corners and edge midpoints of the N x N crop) are placed here
too: the face model's triangle list (physstd.data.face_model) and the warping (physstd.ops) share them; and the
inputs a method may take (INPUT_CHANNELS), which the pipeline, the methods and the export share.
"""
import dataclasses

import numpy as np

# How Eq. 9's [x]n shrinks x (physstd.ops.frequency): "box" averages, "point" is the former bilinear sampler.
LOWPASS_MODES = ("box", "point")
DEFAULT_LOWPASS = "box"


@dataclasses.dataclass(frozen=True)
class ImageSizes:
    """Sizes that scale with the face-crop size N (the paper uses N = 256)."""

    image_size: int = 256

    def __post_init__(self):
        if self.image_size % 8 or self.image_size < 16:
            raise ValueError(f"image_size must be a multiple of 8 and >= 16, got {self.image_size}")

    @property
    def n1(self):
        """Low-frequency cut of Eq. 9 (bias trace B lives below it)."""
        return self.image_size // 8

    @property
    def n2(self):
        """Mid-frequency cut of Eq. 9 (content pattern C lives between n1 and n2)."""
        return self.image_size // 2

    @property
    def depth_size(self):
        """Side K of the depth map M and its target M0."""
        return self.image_size // 8

    @property
    def discriminator_sizes(self):
        """Input sizes of D1..D4 (N/8, 3N/8, N, N)."""
        n = self.image_size
        return (n // 8, 3 * n // 8, n, n)


def border_anchors(size):
    """Eight fixed anchors (corners and edge midpoints) of a size x size image, (x, y) pixels.

    The triangulation covers the whole image: landmarks plus these anchors. Anchors map to themselves in
    every warp, so dense offsets fall to zero at the border and stay continuous across the face outline."""
    last = size - 1.0
    half = last / 2.0
    return np.array([[0, 0], [half, 0], [last, 0], [last, half], [last, last], [half, last], [0, last],
                     [0, half]], dtype=np.float64)


# The inputs a method may take (physstd.methods.base.Method.input_keys), each (batch, N, N, channels) float32 in
# [0, 1]: the RGB face crop, and the sensor depth registered to it, normalised by physstd.ops.depth.
INPUT_CHANNELS = {"image": 3, "sensor_depth": 1}
# The dtype of raw sensor depth in each of its units (stored frames, the export's raw-depth signature).
DEPTH_DTYPES = {"mm": "uint16", "uint8": "uint8"}
