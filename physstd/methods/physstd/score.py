"""PhySTD's spoof score: Eq. 10 of the PhySTD paper with consistent signs, alpha0 fitted on train/dev.

Eq. 10 adds (1/2K^2)||M||_1, the depth norm, which is LARGE for bona fide faces, and
(alpha0/2N^2)(||B||_1+||C||_1+||T||_1+||P||_1), the trace norm, which is LARGE for attacks. Added with the
same sign the two terms pull in opposite directions, so we write the score with explicit signs: higher = more
likely an attack, as every metric in physstd.eval.metrics expects:

    spoof_score = alpha0 * trace_magnitude - depth_mean
    trace_magnitude = (||B||_1 + ||C||_1 + ||T||_1 + ||P||_1) / N^2   (per frame, summed over channels)
    depth_mean      = ||M||_1 / K^2                                    (per frame)

This is 2 * (trace term - depth term) of Eq. 10, so our alpha0 weights the traces against the depth as
the paper's alpha0 does (and weights B, C, T, P per element equally, as the paper's sum of L1 norms does):
"mean(|B|+|C|+|T|+|P|)" is the per-pixel sum over all ten channels, averaged over the N x N pixels. The score's
form, its fit and the parameter check are the method-neutral physstd.eval.scoring.WeightedDifference.
"""
import numpy as np

from physstd.eval import scoring

SCORE = scoring.WeightedDifference("alpha0", "trace_magnitude", "depth_mean", "PhySTD")
SCORE_TERMS = SCORE.terms


def frame_statistics(B, C, T, P, M):
    """Per-frame trace magnitude (||B||+||C||+||T||+||P||)/N^2 and depth mean ||M||/K^2 of Eq. 10.

    B, C, T: (F, N, N, 3); P: (F, N, N, 1); M: (F, K, K, 1) or (F, K, K). Returns two float64 (F,) arrays.
    """
    B, C, T, P, M = (np.asarray(a, dtype=np.float64) for a in (B, C, T, P, M))
    for name, array in (("B", B), ("C", C), ("T", T), ("P", P)):
        if array.ndim != 4 or array.shape[:3] != B.shape[:3]:
            raise ValueError(f"trace {name} has shape {array.shape}; expected (F, N, N, channels) "
                             f"matching B {B.shape[:3]}")
    if M.ndim not in (3, 4) or M.shape[0] != B.shape[0]:
        raise ValueError(f"depth M has shape {M.shape}; expected (F, K, K[, 1]) with F = {B.shape[0]}")
    frames, height, width = B.shape[:3]
    l1 = sum(np.abs(a).reshape(frames, -1).sum(axis=1) for a in (B, C, T, P))
    trace_magnitude = l1 / (height * width)
    depth_mean = M.reshape(frames, -1).mean(axis=1)
    return trace_magnitude, depth_mean
