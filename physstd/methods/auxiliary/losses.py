"""The Auxiliary depth CNN's loss and score: L1 of its depth map to M0, and -mean(depth) (higher = attack: a live
face has depth, a flat spoof none). De-Spoof's DQ-Net reads depth with them too."""
import tensorflow as tf


def auxiliary_depth_loss(depth, depth_target):
    """L1 of the predicted depth map to M0 (face depth for live, 0 for spoof): mean |D - M0|, the form of PhySTD's
    depth loss (Eq. 16 of the PhySTD paper)."""
    return tf.reduce_mean(tf.abs(depth - depth_target))


def depth_mean(depth):
    """Per-frame mean of a depth map (batch, K, K, 1) -> (batch,); the Auxiliary score is its negative."""
    return tf.reduce_mean(tf.cast(depth, tf.float32), axis=(1, 2, 3))


def auxiliary_score(depth):
    """Per-frame spoof score of the Auxiliary CNN: -mean(D) (higher = attack)."""
    return -depth_mean(depth)
