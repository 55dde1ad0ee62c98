"""Losses of the multi-modal disentanglement network ("Learning Polysemantic Spoof Trace: A Multi-Modal
Disentanglement Network for Face Anti-spoofing", Li et al. 2023, Sec. 3, Eq. 6-14), and its score term.

    generator step      alpha1 L_G + alpha2 L_int + alpha3 L_e + alpha4 L_id + alpha5 L_cls + alpha6 L_center (Eq. 13)
    discriminator step  alpha7 L_D (Eq. 7)
    consistency step    alpha8 E ||G(I_i + T_j) - T_j||^2 (Eq. 14)
    {alpha1..alpha8} = {0.25, 100, 1, 100, 1, 10, 1, 1}, lambda_t = 1e-4 (Sec. 4)

Norms are per-element means; a sum over modalities where the paper's terms are per modality (traces, encoder
heads, discriminators). Labels: is_spoof (batch,) 0 = live, 1 = spoof. Every loss returns a float32 scalar.
Least squares GAN losses with the harness's convention real = 1, fake = 0 (Eq. 6-7 print the opposite labels; the
two are the same game).
"""
import dataclasses

import tensorflow as tf

TRACE_INTENSITY_SPOOF = 1e-4   # lambda_t of Eq. 9
CENTRE_RATE = 0.5              # alpha of the centre update (Wen et al. 2016), ours: their default


@dataclasses.dataclass(frozen=True)
class MMDNWeights:
    """alpha1..alpha8 of Eq. 13-14 and the discriminator step (Sec. 4)."""

    adversarial: float = 0.25     # alpha1, L_G (Eq. 6)
    intensity: float = 100.0      # alpha2, L_int (Eq. 9)
    encoder: float = 1.0          # alpha3, L_e (Eq. 11)
    identity: float = 100.0       # alpha4, L_id (Eq. 8)
    classification: float = 1.0   # alpha5, L_cls (Eq. 12)
    centre: float = 10.0          # alpha6, L_center (Eq. 10)
    discriminator: float = 1.0    # alpha7, L_D (Eq. 7)
    consistency: float = 1.0      # alpha8, Eq. 14


GENERATOR_TERMS = ("adversarial", "intensity", "encoder", "identity", "classification", "centre")


def _live_spoof(is_spoof):
    spoof = tf.cast(tf.reshape(is_spoof, (-1,)), tf.float32)
    return 1.0 - spoof, spoof


def _mean_over(weights, per_sample):
    """Mean of per_sample (batch,) over the samples of weight 1 (0 when there is none)."""
    return tf.math.divide_no_nan(tf.reduce_sum(weights * per_sample), tf.reduce_sum(weights))


def _per_sample_mean(x):
    return tf.reduce_mean(tf.reshape(tf.cast(x, tf.float32), (tf.shape(x)[0], -1)), axis=1)


def intensity_loss(traces, is_spoof, spoof_weight=TRACE_INTENSITY_SPOOF):
    """Eq. 9 summed over modalities: mean_live |T| + lambda_t mean_spoof |T|; traces {m: (batch, N, N, c)}."""
    live, spoof = _live_spoof(is_spoof)
    total = 0.0
    for trace in traces.values():
        magnitude = _per_sample_mean(tf.abs(trace))
        total += _mean_over(live, magnitude) + spoof_weight * _mean_over(spoof, magnitude)
    return tf.convert_to_tensor(total, tf.float32)


def binary_cross_entropy(logits, is_spoof):
    """Mean BCE of logits (batch,) against spoof = 1 (Eq. 11 with its minus sign, per element)."""
    labels = tf.cast(tf.reshape(is_spoof, (-1,)), tf.float32)
    return tf.reduce_mean(tf.nn.sigmoid_cross_entropy_with_logits(labels=labels, logits=tf.cast(logits, tf.float32)))


def encoder_classification_loss(logits, is_spoof):
    """L_e (Eq. 11): the BCE of every encoder head psi_m, summed over modalities; logits {m: (batch,)}."""
    return tf.add_n([binary_cross_entropy(value, is_spoof) for value in logits.values()])


def trace_classification_loss(spoof_map, is_spoof):
    """L_cls (Eq. 12): mean_live |phi(T)| + mean_spoof |phi(T) - 1| of phi's map (batch, h, w, 1)."""
    live, spoof = _live_spoof(is_spoof)
    return (_mean_over(live, _per_sample_mean(tf.abs(spoof_map)))
            + _mean_over(spoof, _per_sample_mean(tf.abs(spoof_map - 1.0))))


def centre_loss(features, is_spoof, centres):
    """L_center (Eq. 10) summed over modalities: 1/2 mean_i ||x_i - c_{y_i}||^2; features {m: (batch, C)},
    centres {m: (2, C)} (row 0 live, row 1 spoof)."""
    labels = tf.cast(tf.reshape(is_spoof, (-1,)), tf.int32)
    return tf.add_n([0.5 * tf.reduce_mean(tf.reduce_sum(tf.square(x - tf.gather(centres[m], labels)), axis=-1))
                     for m, x in features.items()])


def centre_update_sums(features, is_spoof, centres):
    """(sum_{y_i=j} (c_j - x_i) (2, C), n_j (2,)) of one batch: what the update all-reduces across replicas."""
    labels = tf.cast(tf.reshape(is_spoof, (-1,)), tf.int32)
    differences = tf.gather(centres, labels) - tf.cast(features, centres.dtype)
    return (tf.math.unsorted_segment_sum(differences, labels, 2),
            tf.math.unsorted_segment_sum(tf.ones_like(labels, centres.dtype), labels, 2))


def updated_centres(centres, difference_sums, counts, rate=CENTRE_RATE):
    """c_j - rate * sum_{y_i=j} (c_j - x_i) / (1 + n_j) (Wen et al. 2016, Eq. 4)."""
    return centres - rate * difference_sums / (1.0 + counts[:, None])


def least_squares_real(scores):
    """Mean (D - 1)^2 over a list of discriminator outputs, averaged over the list (the scales)."""
    return tf.add_n([tf.reduce_mean(tf.square(s - 1.0)) for s in scores]) / len(scores)


def least_squares_fake(scores):
    """Mean D^2 over a list of discriminator outputs, averaged over the list (the scales)."""
    return tf.add_n([tf.reduce_mean(tf.square(s)) for s in scores]) / len(scores)


def generator_adversarial_loss(fake_scores):
    """L_G (Eq. 6): every discriminator's outputs on its fakes pushed to real = 1; fake_scores {key: [scales]},
    summed over the discriminators (D_L and D_S of each modality), averaged over scales."""
    return tf.add_n([least_squares_real(scores) for scores in fake_scores.values()])


def discriminator_loss(real_scores, fake_scores):
    """L_D (Eq. 7): reals to 1, fakes to 0, summed over the discriminators, averaged over scales."""
    return tf.add_n([least_squares_real(real_scores[key]) + least_squares_fake(fake_scores[key])
                     for key in real_scores])


def identity_loss(embedding_of, images, reconstructed):
    """L_id (Eq. 8): mean ||f(I) - f(I_hat)||_2 of a face recognition embedding f (a callable on images)."""
    difference = embedding_of(images) - embedding_of(reconstructed)
    return tf.reduce_mean(tf.norm(tf.reshape(tf.cast(difference, tf.float32), (tf.shape(images)[0], -1)), axis=1))


def consistency_loss(predicted, targets):
    """Eq. 14 summed over modalities: mean (G(I_i + T~_j) - T~_j)^2; predicted, targets {m: (batch, N, N, c)}."""
    return tf.add_n([tf.reduce_mean(tf.square(predicted[m] - targets[m])) for m in targets])


def weighted_generator_loss(losses, weights):
    """Eq. 13 over the terms present in `losses` (L_id only with an identity model)."""
    return tf.add_n([getattr(weights, name) * losses[name] for name in GENERATOR_TERMS if name in losses])


def trace_score(spoof_map):
    """The per-frame score: the mean of phi's map (batch, h, w, 1) -> (batch,) (Sec. 3, Inference)."""
    return tf.reduce_mean(tf.cast(spoof_map, tf.float32), axis=(1, 2, 3))
