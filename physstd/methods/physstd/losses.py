"""PhySTD losses (the PhySTD paper, Sec. 3.5, Eq. 16-22); their weights alpha1..alpha6 (Eq. 23-24) are
physstd.methods.physstd.config.LossWeights.

Normalisation: every norm is taken as a mean over elements (per map), then averaged over the batch, as in the
authors' released STDN code (its l1_loss / l2_loss are reduce_mean). The paper's weights
{alpha1..alpha6} = {100, 5, 1, 1e-4, 10, 1} assume that scale: with sums over the 256 x 256 pixels, the
mask term of L_P would outweigh the depth loss by 4 orders of magnitude. Eq. 16 and 22 already divide by K^2,
and the second term of Eq. 19 is a ratio; the other terms of Eq. 17-21 (written as squared Frobenius norms)
are the same quantities divided by their element counts.

All inputs are float32 tensors; every loss returns a float32 scalar.
"""
import tensorflow as tf

from physstd import trace

INPAINTING_THRESHOLD = 0.1  # beta of Eq. 19


def depth_loss(depth, depth_target):
    """Eq. 16: L_depth = mean |M - M0| (live and spoof; M0 = 0 for spoof)."""
    return tf.reduce_mean(tf.abs(depth - depth_target))


def generator_adversarial_loss(fake_scores):
    """Eq. 17: L_G = sum_k mean (D_k(fake) - 1)^2 over the discriminators' maps on synthetic images."""
    return tf.add_n([tf.reduce_mean(tf.square(score - 1.0)) for score in fake_scores])


def discriminator_loss(real_scores, fake_scores):
    """Eq. 18: L_D = sum_k mean (D_k(real) - 1)^2 + sum_k mean D_k(fake)^2 (LSGAN)."""
    real = [tf.reduce_mean(tf.square(score - 1.0)) for score in real_scores]
    fake = [tf.reduce_mean(tf.square(score)) for score in fake_scores]
    return tf.add_n(real + fake)


def inpainting_mask_loss(mask, additive_trace, preliminary_mask, beta=INPAINTING_THRESHOLD):
    """Eq. 19 (spoof only): mean (P - 1[|T_A| > beta])^2 + sum (P * P0)^2 / sum P0^2, averaged over samples.

    mask P (batch, N, N, 1); additive_trace T_A (batch, N, N, 3), a pixel counts as traced when any channel
    exceeds beta in magnitude; preliminary_mask P0 (batch, N, N, 1), 1 = must not be inpainted. A sample
    whose P0 is empty has no second term.
    """
    traced = tf.cast(tf.reduce_max(tf.abs(additive_trace), axis=-1, keepdims=True) > beta, mask.dtype)
    positive = tf.reduce_mean(tf.square(mask - traced), axis=(1, 2, 3))
    p0_energy = tf.reduce_sum(tf.square(preliminary_mask), axis=(1, 2, 3))
    masked_energy = tf.reduce_sum(tf.square(mask * preliminary_mask), axis=(1, 2, 3))
    negative = tf.math.divide_no_nan(masked_energy, p0_energy)
    return tf.reduce_mean(positive + negative)


def trace_regularizer_loss(out):
    """Eq. 20: L_R = mean B^2 + mean C^2 + mean T^2 + mean P^2 (+ mean S^2 for the forms that predict S)."""
    return tf.add_n([tf.reduce_mean(tf.square(component)) for component in (out.B, out.C, out.T, out.P, out.S)])


def split_trace_regularizer_losses(out_live, out_spoof):
    """Eq. 20 per half, as the authors' released code weights it (spoof traces 1e-4, live traces 10, each a
    per-element mean): {'trace_regularizer': L_R of the spoof half, 'live_trace_regularizer': L_R of the live
    half}. The paper's Eq. 20 is one expectation over live and spoof faces with the single weight alpha4."""
    return {"trace_regularizer": trace_regularizer_loss(out_spoof),
            "live_trace_regularizer": trace_regularizer_loss(out_live)}


def synthesis_loss(image, out, true_live, true_mask, sizes):
    """Eq. 21: L_S = L1 between the overall effect of the traces G estimates for a synthesized spoof and the
    overall effect of the traces that made it, plus L1 between the estimated and the true region P.

    image: G's input, the stop-gradient synthesized / hard spoof (batch, N, N, 3); out: G(image); true_live:
    the live face the spoof was made on; true_mask: the true P (batch, N, N, 1); sizes: the ModelConfig (trace
    form, bands). The overall effect of a set of traces is what they change in the image: G's estimate is
    image - reconstruct_live(image, out) (for PhySTD, (1 - P) T_A + P (I - I_P): the additive trace with the
    inpainted region's content), the truth is image - true_live. Comparing effects, not raw components,
    supervises only what reaches the image: the parts of B and C above their bands n1, n2 vanish in [.]n and
    are left free, as are B/C/T under P. This follows the paper's "overall effect of {P, I_P, B, C, T} after
    warping" and the released STDN code, which compares the summed trace. The difference of effects is
    mean |true_live - reconstruct_live(image, out)| per element, written that way.

    The live half of the step-3 batch comes with true_live = image and true_mask = 0: a live face's true effect
    is zero, so G learns to leave live faces unchanged (the paper feeds [I_live, I_hard] to step 3 together;
    without this half only spoofs would be supervised and G could put traces on everything).
    Targets are stop-gradient: L_S must not train the traces that made the synthesized spoof.
    """
    true_live, true_mask = tf.stop_gradient(true_live), tf.stop_gradient(true_mask)
    effect = tf.reduce_mean(tf.abs(trace.reconstruct_live(image, out, sizes) - true_live))
    return effect + tf.reduce_mean(tf.abs(out.P - true_mask))


def synthesis_component_loss(out, target):
    """Eq. 21, per-component reading (`--synthesis_target=components`): L1 on each raw trace component.

    out: GeneratorOutput of the synthesized / hard spoof; target: SpoofSynthesis.traces (or zero traces for
    the live half of the step-3 batch). Sum over S, B, C, T, P of mean |out - target|, plus
    mean(P_target * |I_P - I_live|): the inpainted content should be the live face where P was applied.
    Unlike synthesis_loss it also supervises parts of B and C that the bands [.]n remove from the image.
    """
    target = tf.nest.map_structure(tf.stop_gradient, target)
    terms = [tf.reduce_mean(tf.abs(getattr(out, name) - getattr(target, name))) for name in ("S", "B", "C", "T", "P")]
    terms.append(tf.reduce_mean(target.P * tf.abs(out.I_P - target.I_P)))
    return tf.add_n(terms)


def hard_depth_loss(depth):
    """Eq. 22: L_H = mean |M_hard - 0| (a synthesized spoof has zero depth)."""
    return tf.reduce_mean(tf.abs(depth))
