"""The spoof generation function and its uses: live reconstruction, spoof synthesis, "harder" samples.

PhySTD paper, Sec. 3.1 and 3.3 (Eq. 3, 5, 8, 11-15). Pure functions on float32 NHWC tensors; the trace
components come in a `physstd.models.GeneratorOutput`.

`sizes` is either a `physstd.config.ImageSizes` (PhySTD's own trace form with bands n1 = N/8, n2 = N/2) or a
`physstd.models.ModelConfig`, which also selects the ablation trace form (see physstd/models/config.py):

    physstd         I_spoof = (1 - P)(I_live + T_A) + P * I_P         T_A = [B]n1 + [C]n2 + T   (Eq. 3)
    single          I_spoof = I_live + T                                (P = 0, B = C = 0)
    stdn            I_spoof = (1 + [S]n1) I_live + T_A, n1 = 1, n2 = N/4  (ECCV20 STDN Eq. 1)
    multiplicative  I_spoof = (I_live + T_A) / W, W = 1 + S             (STDN+ paper, Eq. 27-28; T_A there has the
                                                                          opposite sign, flipped here so that
                                                                          T_A is always "what the spoof added")
    physstd_gain    I_spoof = (1 - P)((1 + [S]1) I_live + T_A) + P * I_P  (physstd with the released code's
                                                                          global gain s)

[x]n is `ops.lowpass(x, n, mode)` (shrink to n x n and back; mode from ModelConfig.lowpass, "box" averaging by
default); [x]1 is the spatial mean. Divisions by 1 + S use max(1 + S, 0.1).
"""
from typing import NamedTuple

import tensorflow as tf

from physstd import ops
from physstd.config import DEFAULT_LOWPASS, ImageSizes
from physstd.models.config import TRACE_COMPONENTS, GeneratorOutput, ModelConfig

MIN_GAIN = 0.1  # floor of the multiplicative gain 1 + S where it divides


class SpoofSynthesis(NamedTuple):
    """A synthesized spoof and the traces that made it.

    image: (batch, N, N, 3) the synthesized spoof.
    traces: GeneratorOutput in the live face's geometry: the trace components that were put in, i.e. what the
        generator should return for `image` (the L_S target, Eq. 21). Its I_P is the live image (the true
        content under P) and its M is all zeros (a spoof's depth target).
    content: (batch, N, N, 3) the spoof image warped into the live geometry (the inpainted content).
    """

    image: object
    traces: object
    content: object


class _TraceSpec(NamedTuple):
    form: str
    n1: int
    n2: int
    sizes: ImageSizes
    lowpass: str = DEFAULT_LOWPASS


def _spec(sizes):
    if isinstance(sizes, ModelConfig):
        return _TraceSpec(sizes.trace_form, *sizes.trace_bands, sizes.sizes, sizes.lowpass)
    if isinstance(sizes, ImageSizes):
        return _TraceSpec("physstd", sizes.n1, sizes.n2, sizes)
    raise TypeError(f"sizes must be a physstd.config.ImageSizes or physstd.models.ModelConfig, got {sizes!r}")


def _band(x, n, spec):
    """[x]n: ops.lowpass(x, n) in the spec's mode, with [x]1 the spatial mean."""
    if n == 1:
        return tf.broadcast_to(tf.reduce_mean(x, axis=(1, 2), keepdims=True), tf.shape(x))
    return ops.lowpass(x, n, spec.lowpass)


def _gain(out, spec):
    """The multiplicative trace as a gain: 1 + [S]n1 ('stdn', n1 = 1), 1 + [S]1 ('physstd_gain'), 1 + S
    ('multiplicative')."""
    if spec.form == "multiplicative":
        return 1.0 + out.S
    return 1.0 + _band(out.S, spec.n1 if spec.form == "stdn" else 1, spec)


def _additive(out, spec):
    return _band(out.B, spec.n1, spec) + _band(out.C, spec.n2, spec) + out.T


def _reconstruct(image, out, spec):
    trace = _additive(out, spec)
    if spec.form == "stdn":
        return (image - trace) / tf.maximum(_gain(out, spec), MIN_GAIN)
    if spec.form == "multiplicative":
        return _gain(out, spec) * image - trace
    if spec.form == "physstd_gain":
        return (1.0 - out.P) * (image - trace) / tf.maximum(_gain(out, spec), MIN_GAIN) + out.P * out.I_P
    return (1.0 - out.P) * (image - trace) + out.P * out.I_P


def _generate(live_image, traces, content, spec):
    trace = _additive(traces, spec)
    if spec.form == "stdn":
        return _gain(traces, spec) * live_image + trace
    if spec.form == "multiplicative":
        return (live_image + trace) / tf.maximum(_gain(traces, spec), MIN_GAIN)
    if spec.form == "physstd_gain":
        live_image = _gain(traces, spec) * live_image
    return (1.0 - traces.P) * (live_image + trace) + traces.P * content


def additive_trace(out, sizes):
    """Eq. 5: T_A = [B]n1 + [C]n2 + T."""
    return _additive(out, _spec(sizes))


def reconstruct_live(image, out, sizes):
    """Eq. 5: I_live = (1 - P)(I - T_A) + P * I_P (for the ablation forms: the inverse of their generation)."""
    return _reconstruct(image, out, _spec(sizes))


def image_trace(image, out, sizes):
    """What the estimated traces say the spoof added to the live face outside the inpainting region, in image
    space: the image minus its reconstruction with P = 0. For 'physstd' and 'single' this is T_A itself; for the
    forms with a gain it also holds the part that scales with the face (for example S I for 'physstd_gain')."""
    spec = _spec(sizes)
    if spec.form in ("physstd", "single"):
        return _additive(out, spec)
    if "P" in TRACE_COMPONENTS[spec.form]:
        out = out._replace(P=tf.zeros_like(out.P))
    return image - _reconstruct(image, out, spec)


def overall_effect(image, out, sizes):
    """What the estimated traces change in the image: I - I_live = (1 - P) T_A + P (I - I_P) for PhySTD (Eq. 5);
    the quantity the synthesis loss L_S supervises."""
    return image - reconstruct_live(image, out, sizes)


def hierarchical_reconstruction(image, out, sizes, band_limit_inpainted=False):
    """Eq. 11: (I_low, I_mid, I_hi), each removing only the trace bands below its resolution.

    With band_limit_inpainted the inpainted content P * I_P enters I_low and I_mid through the same [.]n1 /
    [.]n2 as the image (the paper adds it full-band: then D1 and D2 can tell it from the band-limited live reals
    by its sharpness alone).

    For the ablation forms (a single or multiplicative trace cannot be split by band) the bands of the full
    reconstruction are used instead: ([r]n1, [r]n2, r) with the image bands n1 = N/8, n2 = N/2, as the
    preliminary version resized its one reconstruction for every discriminator.
    """
    spec = _spec(sizes)
    n1, n2 = spec.sizes.n1, spec.sizes.n2
    if spec.form not in ("physstd", "physstd_gain"):
        live = _reconstruct(image, out, spec)
        return ops.lowpass(live, n1, spec.lowpass), ops.lowpass(live, n2, spec.lowpass), live
    low_trace = _band(out.B, spec.n1, spec)
    mid_trace = low_trace + _band(out.C, spec.n2, spec)
    keep, inpainted = 1.0 - out.P, out.P * out.I_P
    gain = tf.maximum(_gain(out, spec), MIN_GAIN) if spec.form == "physstd_gain" else 1.0
    inpainted_low, inpainted_mid = inpainted, inpainted
    if band_limit_inpainted:
        inpainted_low = ops.lowpass(inpainted, n1, spec.lowpass)
        inpainted_mid = ops.lowpass(inpainted, n2, spec.lowpass)
    low = keep * (ops.lowpass(image, n1, spec.lowpass) - low_trace) / gain + inpainted_low
    mid = keep * (ops.lowpass(image, n2, spec.lowpass) - mid_trace) / gain + inpainted_mid
    high = keep * (image - mid_trace - out.T) / gain + inpainted
    return low, mid, high


def discriminator_inputs(live_image, spoof_image, spoof_out, synthesized_image, sizes, match_real_band=True,
                         band_limit_inpainted=False):
    """Sec. 3.4: the (real, fake) image pairs of D1..D4, full size (each D_k resizes its input itself).

    D1, D2, D3 judge the live face against the hierarchical reconstructions (I_low, I_mid, I_hi) of the spoof
    (Eq. 11); D4 the spoof against the synthesized spoof (Eq. 15). With match_real_band (the default) the live
    face reaches D1 and D2 through the same Eq. 9 lowpass [.]n1 / [.]n2 that built I_low and I_mid, so a zero
    trace makes real and fake inputs identical and only the trace can tell them apart (the released STDN code
    also resamples real and fake images with one operator). Without it (the former reading) the full-band live
    face is compared with the band-limited reconstruction, a gap D1 sees at once and G can close only with a
    spurious B. Returns (reals, fakes), tuples of 4 tensors.
    """
    spec = _spec(sizes)
    low, mid, high = hierarchical_reconstruction(spoof_image, spoof_out, sizes, band_limit_inpainted)
    if match_real_band:
        reals = (ops.lowpass(live_image, spec.sizes.n1, spec.lowpass),
                 ops.lowpass(live_image, spec.sizes.n2, spec.lowpass), live_image)
    else:
        reals = (live_image,) * 3
    return reals + (spoof_image,), (low, mid, high, synthesized_image)


def spoof_generation(live_image, traces, content, sizes):
    """Eq. 3 / 8: G^-(I_live | traces) = (1 - P)(I_live + T_A) + P * content, traces already in live geometry."""
    return _generate(live_image, traces, content, _spec(sizes))


# Components moved by the 3D warping layer (I_P and M are not warped: see SpoofSynthesis).
_WARPED = ("S", "B", "C", "T", "P")


def synthesize_spoof(live_image, spoof_image, spoof_out, live_landmarks, spoof_landmarks, live_bary,
                     triangles, sizes):
    """Eq. 8, 12-15: move the spoof's traces onto the live face's geometry and apply them to the live image.

    live_image, spoof_image (batch, N, N, 3); spoof_out the GeneratorOutput of spoof_image; landmarks
    (batch, Q, 2) (x, y) without anchors; live_bary = (triangle_index (batch, N, N) int32, weights
    (batch, N, N, 3)) of the live landmarks; triangles (T, 3) int32 (face_model.face_triangles()).
    The components {S, B, C, T, P} and the spoof image are warped with one dense_warp call (Eq. 14-15); the
    spoof generation function is then applied to the warped components, so the returned image is exactly
    G^-(I_live | returned traces) and the L_S target agrees with the image. Returns SpoofSynthesis;
    gradients flow into spoof_out (L_G of Eq. 17 trains the generator through D4).
    """
    spec = _spec(sizes)
    offsets = ops.dense_offsets(live_bary, live_landmarks, spoof_landmarks, triangles)
    names = [name for name in _WARPED if name in TRACE_COMPONENTS[spec.form]]  # the others are zeros
    parts = [getattr(spoof_out, name) for name in names] + [spoof_image]
    warped = tf.split(ops.dense_warp(tf.concat(parts, axis=-1), offsets), [p.shape[-1] for p in parts], axis=-1)
    components = {name: tf.zeros_like(getattr(spoof_out, name)) for name in _WARPED}
    components.update(zip(names, warped[:-1]))
    content = warped[-1]
    traces = GeneratorOutput(I_P=live_image, M=_spoof_depth(live_image, spec), **components)
    return SpoofSynthesis(_generate(live_image, traces, content, spec), traces, content)


def _spoof_depth(image, spec):
    """The depth target of a spoof: zeros (batch, K, K, 1)."""
    k = spec.sizes.depth_size
    return tf.zeros(tf.stack([tf.shape(image)[0], k, k, 1]), dtype=image.dtype)


def no_trace(image, sizes):
    """The traces of a live face: all components zero (I_P = the image, M = zeros); the L_S target of the
    live half of the step-3 batch. Its depth target is M0, not this M."""
    zeros = tf.zeros_like(image)
    depth = _spoof_depth(image, _spec(sizes))
    return GeneratorOutput(B=zeros, C=zeros, T=zeros, P=zeros[..., :1], I_P=image, M=depth, S=zeros)


def _seed_pair(seed):
    """A stateless-RNG seed of shape (2,) from a Python int, a scalar tensor or a (2,) tensor."""
    seed = tf.cast(tf.convert_to_tensor(seed), tf.int64)
    if seed.shape.rank == 0:
        seed = tf.stack([seed, tf.zeros_like(seed)])
    return seed


def harder_sample(live_image, traces, content, sizes, seed):
    """Sec. 3.3 "harder" sample: weights ~ U[0, 1) on [S], [B], [C], T per sample; P := 0 with probability 0.5.

    traces and content are a SpoofSynthesis' `traces` and `content` (already in the live geometry). seed is an
    int or an int tensor of shape () or (2,); the same seed gives the same sample (tf.random stateless ops).
    The result is a SpoofSynthesis whose image and traces are stop-gradient: they are the input and the
    target of L_S (Eq. 21), which must not train the traces that made them.
    """
    spec = _spec(sizes)
    weight_seed, mask_seed = tf.unstack(tf.random.experimental.stateless_split(_seed_pair(seed), 2))
    batch = tf.shape(live_image)[0]
    weights = tf.random.stateless_uniform(tf.stack([batch, 1, 1, 4]), weight_seed, dtype=live_image.dtype)
    keep_mask = tf.cast(
        tf.random.stateless_uniform(tf.stack([batch, 1, 1, 1]), mask_seed, dtype=live_image.dtype) >= 0.5,
        live_image.dtype)
    w_s, w_b, w_c, w_t = tf.split(weights, 4, axis=-1)
    traces = tf.nest.map_structure(tf.stop_gradient, traces)
    content, live_image = tf.stop_gradient(content), tf.stop_gradient(live_image)
    harder = traces._replace(S=w_s * traces.S, B=w_b * traces.B, C=w_c * traces.C, T=w_t * traces.T,
                             P=keep_mask * traces.P)
    return SpoofSynthesis(_generate(live_image, harder, content, spec), harder, content)
