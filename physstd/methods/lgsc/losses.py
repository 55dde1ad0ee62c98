"""LGSC losses and score terms ("Learning Generalized Spoof Cues for Face Anti-spoofing", Feng et al. 2020,
Sec. 3.3-3.5, Eq. 6-10).

    L = alpha1 L_r + alpha2 sum_{k in E5, D1..D4} L_t^k + alpha3 L_a,   {alpha1, alpha2, alpha3} = {5, 1, 5}  (Eq. 9)

- L_r (Eq. 6): the L1 norm of the cue, regressed to zero on the live samples only (spoof cues are left free);
  a per-element mean, as the released code normalises it (its sum over live pixels divided by their count).
- L_t (Eq. 7): batch-all triplet loss on the L2-normalised global-average-pooled features; anchor and positive
  live (anchor != positive), negative spoof, margin 0.5, averaged over the triplets whose hinge is positive (the
  released code's count; the paper's "valid triplets"), 0 when there is none.
- L_a (Eq. 8): softmax cross-entropy of the auxiliary classifier (Eq. 8 as printed lacks the minus sign).

Labels: is_spoof (batch,) 0 = live, 1 = spoof, in any order. Every loss returns a float32 scalar.
Score (Eq. 10, higher = attack): cue_magnitude = mean |C| per frame; the classifier's p(spoof) is a second term.
"""
import dataclasses

import tensorflow as tf

TRIPLET_MARGIN = 0.5     # m of Eq. 7 (Sec. 4.1)
DISTANCE_FLOOR = 1e-12   # squared distances are floored here before the square root: finite gradients at d = 0


@dataclasses.dataclass(frozen=True)
class LGSCWeights:
    """alpha1..alpha3 of Eq. 9 (Sec. 4.1; the released code uses the same)."""

    regression: float = 5.0       # alpha1, L_r (Eq. 6)
    triplet: float = 1.0          # alpha2, each of the five L_t (Eq. 7)
    classification: float = 5.0   # alpha3, L_a (Eq. 8)

    def to_dict(self):
        return dataclasses.asdict(self)


def _live_spoof(is_spoof):
    spoof = tf.cast(tf.reshape(is_spoof, (-1,)), tf.float32)
    return 1.0 - spoof, spoof


def cue_regression_loss(cue, is_spoof, spoof_target=None):
    """Eq. 6: L_r = mean |C| over the live samples' cues (batch, n, n, 3); 0 for a batch without live samples.

    spoof_target (Tab. 5 "RL on live and spoof"): also regress the spoof cues to this constant (the ablation's
    all-one map), the mean then running over every sample."""
    live, spoof = _live_spoof(is_spoof)
    per_sample = tf.reduce_mean(tf.abs(cue), axis=(1, 2, 3))
    if spoof_target is None:
        return tf.math.divide_no_nan(tf.reduce_sum(live * per_sample), tf.reduce_sum(live))
    spoof_error = tf.reduce_mean(tf.abs(cue - spoof_target), axis=(1, 2, 3))
    return tf.reduce_mean(live * per_sample + spoof * spoof_error)


def pairwise_distances(features):
    """d(i, j) of Eq. 7 for features (batch, c): the Euclidean distance of the L2-normalised vectors,
    sqrt(max(||v_i - v_j||^2, 1e-12)) (batch, batch). Differences, not the Gram expansion, so identical vectors
    are exactly at the floor and their gradient is zero, not infinite."""
    v = tf.math.l2_normalize(tf.cast(features, tf.float32), axis=-1)
    squared = tf.reduce_sum(tf.square(v[:, None, :] - v[None, :, :]), axis=-1)
    return tf.sqrt(tf.maximum(squared, DISTANCE_FLOOR))


def triplet_terms(features, is_spoof, margin=TRIPLET_MARGIN):
    """(terms, valid), both (batch, batch, batch) indexed [anchor, positive, negative]: max(d_ap - d_an + m, 0)
    on the valid triplets (anchor and positive live and distinct, negative spoof), 0 elsewhere."""
    live, spoof = _live_spoof(is_spoof)
    distinct = 1.0 - tf.eye(tf.shape(live)[0])
    valid = (live[:, None, None] * live[None, :, None] * distinct[:, :, None] * spoof[None, None, :]) > 0
    distances = pairwise_distances(features)
    hinge = tf.nn.relu(distances[:, :, None] - distances[:, None, :] + margin)
    return tf.where(valid, hinge, 0.0), valid


def triplet_loss(features, is_spoof, margin=TRIPLET_MARGIN):
    """Eq. 7 with batch-all mining: the sum of the positive triplet terms over their number; 0 (not NaN) when
    no term is positive. features: (batch, c) pooled features (normalised here)."""
    terms, _ = triplet_terms(features, is_spoof, margin)
    active = tf.reduce_sum(tf.cast(terms > 0, tf.float32))
    return tf.math.divide_no_nan(tf.reduce_sum(terms), active)


def multiscale_triplet_loss(feature_maps, is_spoof, margin=TRIPLET_MARGIN):
    """sum_k L_t^k of Eq. 9 over feature maps (batch, h_k, w_k, c_k) (E5, D1..D4), each globally average-pooled."""
    return tf.add_n([triplet_loss(tf.reduce_mean(tf.cast(feature, tf.float32), axis=(1, 2)), is_spoof, margin)
                     for feature in feature_maps])


def auxiliary_classification_loss(logits, is_spoof):
    """Eq. 8 (with its minus sign): mean softmax cross-entropy of the (live, spoof) logits (batch, 2)."""
    labels = tf.cast(tf.reshape(is_spoof, (-1,)), tf.int32)
    return tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(labels=labels, logits=logits))


def lgsc_total_loss(losses, weights):
    """Eq. 9 from a dict of the named terms {'regression', 'triplet' (the sum over scales), 'classification'}."""
    return (weights.regression * losses["regression"] + weights.triplet * losses["triplet"]
            + weights.classification * losses["classification"])


def cue_magnitude(cue):
    """Eq. 10: the per-frame spoof score mean |C| over pixels and channels, (batch, n, n, 3) -> (batch,)."""
    return tf.reduce_mean(tf.abs(tf.cast(cue, tf.float32)), axis=(1, 2, 3))


def spoof_probability(logits):
    """The auxiliary classifier's p(spoof) per frame, (batch, 2) -> (batch,)."""
    return tf.nn.softmax(tf.cast(logits, tf.float32), axis=-1)[:, 1]
