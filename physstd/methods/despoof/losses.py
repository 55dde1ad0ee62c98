"""Losses and score components of De-Spoof (the De-Spoof paper, Sec. 3.3-3.4, Eq. 1-7); its DQ-Net's depth loss
and depth mean are the Auxiliary's (physstd.methods.auxiliary.losses).

Normalisation as in PhySTD's losses: every norm is a per-element mean, averaged over the batch. The spectrum of
the repetitive loss is the DFT divided by the number of pixels, so that a cosine of amplitude a makes a peak
of a/2 whatever the image size N (the paper's weight lambda2 = 0.005 is then applied to a quantity in the
noise's own units).

Score (higher = attack, as physstd.eval.metrics expects; Sec. 4.2 "average fusion", score = (||N||_1 +
||D_hat||_1) / 2): the noise norm is LARGE for attacks, the depth norm of the reconstruction is LARGE for bona
fide faces, so the paper's sum only ranks samples when one of the two signs is flipped. We write it as
    spoof_score = weight * noise_magnitude - depth_mean
the two-term form of PhySTD's Eq. 10 score, so physstd.eval.scoring.WeightedDifference fits the weight (>= 0) on
a train/dev set exactly as it fits PhySTD's alpha0. The paper's fixed weight 1 (noise and depth in unrelated
units) is one point of that grid.
"""
import dataclasses

import tensorflow as tf

from physstd.records import Record

# k of the repetitive loss as a fraction of N (De-Spoof paper, Sec. 4.1: k = 64 at N = 256).
REPETITIVE_CENTRE_FRACTION = 0.25


@dataclasses.dataclass(frozen=True)
class DeSpoofWeights(Record):
    """lambda1..lambda4 of Eq. 7 (De-Spoof paper, Sec. 4.1); J_z has weight 1."""

    magnitude: float = 3.0          # lambda1, J_m (Eq. 5)
    repetitive: float = 0.005       # lambda2, J_r
    depth_quality: float = 0.1      # lambda3, J_DQ (Eq. 2)
    visual_quality: float = 0.016   # lambda4, J_VQ_test (Eq. 4)


# --- De-Spoof --------------------------------------------------------------------------------------------
def reconstruct_live(image6, noise):
    """Tab. 1 / Eq. 1: I_hat = I - N on the RGB+HSV channels."""
    return image6 - noise


def additive_trace(noise):
    """The spoof noise as an additive trace in RGB image space (I_spoof = I_hat + T_A, the sign of
    physstd.trace's T_A): the RGB channels of N."""
    return noise[..., :3]


def zero_one_map_loss(zero_one_map, is_spoof):
    """Eq. 6: J_z = mean |map - M|, M = 0 everywhere for live and 1 for spoof; is_spoof (batch,) 0/1."""
    label = tf.reshape(tf.cast(is_spoof, tf.float32), (-1, 1, 1, 1))
    return tf.reduce_mean(tf.abs(zero_one_map - label))


def magnitude_loss(live_noise):
    """Eq. 5: J_m = mean |N| over the live samples' noise."""
    return tf.reduce_mean(tf.abs(live_noise))


def high_frequency_peak(noise, centre):
    """max(H(F(N), k)) per sample: the largest magnitude of the shifted 2-D spectrum (each channel, DFT / N^2)
    outside the centre x centre low-frequency square, which is set to zero. noise (batch, N, N, C) -> (batch,).

    After the shift the zero frequency sits at row/column N // 2; the square covers rows and columns
    N // 2 - centre // 2 ... N // 2 - centre // 2 + centre - 1.
    """
    noise = tf.cast(noise, tf.float32)
    size = noise.shape[1]
    channels_first = tf.transpose(noise, (0, 3, 1, 2))
    spectrum = tf.abs(tf.signal.fft2d(tf.complex(channels_first, tf.zeros_like(channels_first))))
    spectrum = tf.signal.fftshift(spectrum, axes=(-2, -1)) / float(size * size)
    start = size // 2 - centre // 2
    inside = tf.range(size) - start
    inside = tf.cast((inside >= 0) & (inside < centre), tf.float32)
    outside = 1.0 - inside[:, None] * inside[None, :]
    return tf.reduce_max(spectrum * outside, axis=(1, 2, 3))


def repetitive_loss(noise, is_spoof, centre):
    """J_r (Sec. 3.4): -peak for spoof samples (a strong repeated pattern is rewarded), +peak for live ones
    (the peak is a magnitude, so its L1 norm is itself); the mean over the batch."""
    sign = 1.0 - 2.0 * tf.cast(is_spoof, tf.float32)
    return tf.reduce_mean(sign * high_frequency_peak(noise, centre))


def depth_quality_loss(reconstruction_depth, face_depth):
    """Eq. 2: J_DQ = mean |CNN_DQ(I_hat) - D|, D the face-shape depth of every input (spoof or live)."""
    return tf.reduce_mean(tf.abs(reconstruction_depth - face_depth))


def _real_probability_loss(logits, real):
    """mean -log p(real) (real=True) or mean -log(1 - p(real)) of VQ-Net's (real, synthetic) logits."""
    labels = tf.fill(tf.shape(logits)[:1], 0 if real else 1)
    return tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(labels=labels, logits=logits))


def visual_quality_discriminator_loss(real_logits, fake_logits):
    """Eq. 3: J_VQ_train = -E_real log p(real) - E_synthetic log(1 - p(real))."""
    return _real_probability_loss(real_logits, True) + _real_probability_loss(fake_logits, False)


def visual_quality_generator_loss(fake_logits):
    """Eq. 4: J_VQ_test = -E_synthetic log p(real)."""
    return _real_probability_loss(fake_logits, True)


def despoof_total_loss(losses, weights):
    """Eq. 7: J_T = J_z + l1 J_m + l2 J_r + l3 J_DQ + l4 J_VQ_test from a dict of the named terms."""
    return (losses["zero_one_map"] + weights.magnitude * losses["magnitude"]
            + weights.repetitive * losses["repetitive"] + weights.depth_quality * losses["depth_quality"]
            + weights.visual_quality * losses["visual_quality"])


def noise_magnitude(noise):
    """Per-frame ||N||_1 / N^2: the per-pixel sum of |N| over its channels, averaged over pixels -> (batch,).
    (The same normalisation as PhySTD's trace_magnitude, physstd.methods.physstd.score.frame_statistics.)"""
    noise = tf.cast(noise, tf.float32)
    return tf.reduce_sum(tf.abs(noise), axis=(1, 2, 3)) / float(noise.shape[1] * noise.shape[2])
