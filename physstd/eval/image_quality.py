"""Image-quality probes of face crops: the sharpness statistic of the synthetic set's renders against the photos they
come from (experiments/synthetic_quality.py) and the degraded copies of a photo that tell "the detector reacts to
image quality" from "it memorised an identity" (experiments/original_photos.py)."""
import cv2
import numpy as np

from physstd.config import ImageSizes
from physstd.data import synthetic_traces


def degraded_copies(image, rng):
    """{name: (H, W, 3) uint8}: the photo and copies blurred, noised + JPEG-compressed, or at half resolution.
    Blur sigmas are given for a 256-pixel photo and scaled with its height."""
    sigma = image.shape[0] / 256.0
    noisy = np.clip(np.round(image + rng.normal(0.0, 2.0, image.shape)), 0, 255).astype(np.uint8)
    ok, encoded = cv2.imencode(".jpg", cv2.cvtColor(noisy, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 75])
    return {"photo": image,
            "blur 1": cv2.GaussianBlur(image, (0, 0), 1.0 * sigma),
            "blur 2": cv2.GaussianBlur(image, (0, 0), 2.0 * sigma),
            "noise+jpeg75": cv2.cvtColor(cv2.imdecode(encoded, cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB),
            "half size": cv2.resize(image, None, fx=0.5, fy=0.5, interpolation=cv2.INTER_AREA)}


def high_frequency_rms(crops):
    """(B,) sharpness of (B, N, N, 3) uint8 face crops: 255 x RMS over the central 3/4 of x - [x]n2 (Eq. 9's
    high band, n2 = ImageSizes(N).n2) of the luminance x (synthetic_traces.LUMA)."""
    import tensorflow as tf

    from physstd import ops   # TensorFlow: this module stays free of it until a sharpness is measured

    crops = np.asarray(crops)
    size = crops.shape[1]
    luminance = (crops.astype(np.float32) / 255.0) @ synthetic_traces.LUMA
    luminance = tf.constant(luminance[..., None])
    band = (luminance - ops.lowpass(luminance, ImageSizes(size).n2)).numpy()[..., 0]
    edge = size // 8
    band = band[:, edge:size - edge, edge:size - edge]
    return 255.0 * np.sqrt(np.mean(band.astype(np.float64) ** 2, axis=(1, 2)))
