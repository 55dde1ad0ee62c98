import numpy as np
import pytest
import tensorflow as tf

from physstd import ops, trace
from physstd.data import face_model
from physstd.models import GeneratorOutput, ModelConfig, TRACE_FORMS

N = 32


def _random(shape, seed, low=-1.0, high=1.0):
    return tf.constant(np.random.default_rng(seed).uniform(low, high, shape), tf.float32)


def _traces(batch=2, size=N, **values):
    """A GeneratorOutput with the given components (broadcast to their shapes) and zeros elsewhere."""
    k = size // 8
    shapes = {"B": 3, "C": 3, "T": 3, "P": 1, "I_P": 3, "S": 3}
    fields = {name: tf.zeros((batch, size, size, channels)) for name, channels in shapes.items()}
    fields["M"] = tf.zeros((batch, k, k, 1))
    for name, value in values.items():
        fields[name] = tf.broadcast_to(tf.cast(value, tf.float32), fields[name].shape)
    return GeneratorOutput(**fields)


def _config(form, size=N):
    return ModelConfig(image_size=size, trace_form=form)


def test_additive_trace_takes_each_component_in_its_band():
    sizes = _config("physstd").sizes
    t = _random((2, N, N, 3), 1)
    constant_bias = trace.additive_trace(_traces(B=[0.1, -0.2, 0.3], T=t), sizes)
    np.testing.assert_allclose(constant_bias.numpy(), (t + [0.1, -0.2, 0.3]).numpy(), atol=1e-6)

    b, c = _random((2, N, N, 3), 2), _random((2, N, N, 3), 3)
    expected = ops.lowpass(b, N // 8) + ops.lowpass(c, N // 2) + t
    for spec in (sizes, _config("physstd")):
        np.testing.assert_allclose(trace.additive_trace(_traces(B=b, C=c, T=t), spec).numpy(), expected.numpy(),
                                   atol=1e-6)
    # ECCV20 STDN bands: n1 = 1 (the spatial mean), n2 = N/4.
    stdn = trace.additive_trace(_traces(B=b, C=c, T=t), _config("stdn"))
    expected = tf.reduce_mean(b, axis=(1, 2), keepdims=True) + ops.lowpass(c, N // 4) + t
    np.testing.assert_allclose(stdn.numpy(), expected.numpy(), atol=1e-6)
    with pytest.raises(TypeError):
        trace.additive_trace(_traces(), 256)


@pytest.mark.parametrize("form", TRACE_FORMS)
def test_zero_traces_reconstruct_and_synthesize_the_identity(form):
    image = _random((2, N, N, 3), 4, 0.0, 1.0)
    config = _config(form)
    np.testing.assert_allclose(trace.reconstruct_live(image, _traces(), config).numpy(), image.numpy(), atol=1e-7)
    for band in trace.hierarchical_reconstruction(image, _traces(), config)[2:]:
        np.testing.assert_allclose(band.numpy(), image.numpy(), atol=1e-7)
    generated = trace.spoof_generation(image, trace.no_trace(image, config), _random((2, N, N, 3), 5), config)
    np.testing.assert_allclose(generated.numpy(), image.numpy(), atol=1e-7)


def test_reconstruct_live_is_eq5():
    sizes = _config("physstd").sizes
    image = _random((2, N, N, 3), 6, 0.0, 1.0)
    content = _random((2, N, N, 3), 7, 0.0, 1.0)
    np.testing.assert_allclose(trace.reconstruct_live(image, _traces(P=1.0, I_P=content, T=0.5), sizes).numpy(),
                               content.numpy())  # P = 1 copies I_P
    p, t = _random((2, N, N, 1), 8, 0.0, 1.0), _random((2, N, N, 3), 9)
    result = trace.reconstruct_live(image, _traces(P=p, T=t, I_P=content), sizes).numpy()
    p, t, i, c = p.numpy(), t.numpy(), image.numpy(), content.numpy()
    np.testing.assert_allclose(result, (1 - p) * (i - t) + p * c, atol=1e-6)


@pytest.mark.parametrize("form", TRACE_FORMS)
def test_reconstruction_inverts_spoof_generation(form):
    config = _config(form)
    live = _random((2, N, N, 3), 10, 0.2, 0.8)
    traces = _traces(B=_random((2, N, N, 3), 11, -0.2, 0.2), C=_random((2, N, N, 3), 12, -0.2, 0.2),
                     T=_random((2, N, N, 3), 13, -0.2, 0.2), S=_random((2, N, N, 3), 14, -0.5, 0.5))
    if form == "physstd":  # binary P with the true live content as I_P inverts exactly
        mask = tf.cast(_random((2, N, N, 1), 15, 0.0, 1.0) > 0.7, tf.float32)
        traces = traces._replace(P=mask, I_P=live)
    spoof = trace.spoof_generation(live, traces, _random((2, N, N, 3), 16, 0.0, 1.0), config)
    assert np.abs((spoof - live).numpy()).max() > 0.05
    np.testing.assert_allclose(trace.reconstruct_live(spoof, traces, config).numpy(), live.numpy(), atol=1e-5)


def test_spoof_generation_of_each_form():
    live = _random((2, N, N, 3), 17, 0.0, 1.0)
    content = _random((2, N, N, 3), 18, 0.0, 1.0)
    t, s = _random((2, N, N, 3), 19, -0.3, 0.3), _random((2, N, N, 3), 20, -0.5, 0.5)
    p = _random((2, N, N, 1), 21, 0.0, 1.0)
    i, tn, sn, pn, cn = live.numpy(), t.numpy(), s.numpy(), p.numpy(), content.numpy()
    physstd = trace.spoof_generation(live, _traces(T=t, P=p), content, _config("physstd"))
    np.testing.assert_allclose(physstd.numpy(), (1 - pn) * (i + tn) + pn * cn, atol=1e-6)  # Eq. 3 / 8
    stdn = trace.spoof_generation(live, _traces(T=t, S=s), content, _config("stdn"))
    np.testing.assert_allclose(stdn.numpy(), (1 + sn.mean(axis=(1, 2), keepdims=True)) * i + tn, atol=1e-6)
    multiplicative = trace.spoof_generation(live, _traces(T=t, S=s), content, _config("multiplicative"))
    np.testing.assert_allclose(multiplicative.numpy(), (i + tn) / (1 + sn), atol=1e-5)  # Eq. 28, T_A -> -T_A


def test_hierarchical_reconstruction_bands():
    sizes = _config("physstd").sizes
    image = _random((2, N, N, 3), 22, 0.0, 1.0)
    t = _random((2, N, N, 3), 23)
    low, mid, high = trace.hierarchical_reconstruction(image, _traces(B=[0.2, 0.0, -0.1], T=t), sizes)
    bias = np.array([0.2, 0.0, -0.1])
    np.testing.assert_allclose(low.numpy(), ops.lowpass(image, N // 8).numpy() - bias, atol=1e-6)
    np.testing.assert_allclose(mid.numpy(), ops.lowpass(image, N // 2).numpy() - bias, atol=1e-6)  # T not removed
    np.testing.assert_allclose(high.numpy(), image.numpy() - bias - t.numpy(), atol=1e-6)

    c = _random((2, N, N, 3), 24)
    _, mid, _ = trace.hierarchical_reconstruction(image, _traces(C=c), sizes)
    np.testing.assert_allclose(mid.numpy(), (ops.lowpass(image, N // 2) - ops.lowpass(c, N // 2)).numpy(), atol=1e-6)

    content = _random((2, N, N, 3), 25, 0.0, 1.0)
    for band in trace.hierarchical_reconstruction(image, _traces(B=0.3, C=c, T=t, P=1.0, I_P=content), sizes):
        np.testing.assert_allclose(band.numpy(), content.numpy(), atol=1e-6)

    full = _traces(B=_random((2, N, N, 3), 26), C=c, T=t, P=_random((2, N, N, 1), 27, 0, 1), I_P=content)
    np.testing.assert_allclose(trace.hierarchical_reconstruction(image, full, sizes)[2].numpy(),
                               trace.reconstruct_live(image, full, sizes).numpy(), atol=1e-6)

    # Forms whose trace has no band split use the bands of their full reconstruction.
    single = trace.hierarchical_reconstruction(image, _traces(T=t), _config("single"))
    for band, n in zip(single, (N // 8, N // 2, None)):
        expected = image - t if n is None else ops.lowpass(image - t, n)
        np.testing.assert_allclose(band.numpy(), expected.numpy(), atol=1e-6)


def _geometry(size, shift=(0.0, 0.0)):
    """Canonical live landmarks, spoof landmarks moved by shift (dx, dy), the live barycentric maps."""
    triangles = face_model.face_triangles()
    live = face_model.canonical_landmarks(size).astype(np.float32)
    spoof = live + np.asarray(shift, np.float32)
    index, weights = ops.triangle_barycentrics(live, triangles, size)
    bary = (tf.constant(index[None]), tf.constant(weights[None]))
    return tf.constant(live[None]), tf.constant(spoof[None]), bary, tf.constant(triangles), index


def _spoof_output(size, seed):
    return _traces(batch=1, size=size, B=_random((1, size, size, 3), seed), C=_random((1, size, size, 3), seed + 1),
                   T=_random((1, size, size, 3), seed + 2), P=_random((1, size, size, 1), seed + 3, 0.0, 1.0),
                   S=_random((1, size, size, 3), seed + 4, -0.2, 0.2), I_P=_random((1, size, size, 3), seed + 5))


@pytest.mark.parametrize("form", ["physstd", "stdn"])
def test_synthesize_spoof_with_identical_geometry_is_the_unwarped_formula(form):
    size = 64
    config = _config(form, size)
    live_lm, spoof_lm, bary, triangles, _ = _geometry(size)
    live, spoof = _random((1, size, size, 3), 30, 0, 1), _random((1, size, size, 3), 31, 0, 1)
    out = _spoof_output(size, 32)
    result = trace.synthesize_spoof(live, spoof, out, live_lm, spoof_lm, bary, triangles, config)
    if form == "physstd":
        expected = (1 - out.P) * (live + trace.additive_trace(out, config)) + out.P * spoof
        used = ("B", "C", "T", "P")
    else:
        expected = (1 + tf.reduce_mean(out.S, axis=(1, 2), keepdims=True)) * live + trace.additive_trace(out, config)
        used = ("S", "B", "C", "T")
    # Barycentric round-off leaves offsets of ~1e-6 px, which move values of random maps by ~1e-5.
    np.testing.assert_allclose(result.image.numpy(), expected.numpy(), atol=1e-4)
    for name in ("B", "C", "T", "P", "S"):
        warped = getattr(result.traces, name).numpy()
        if name in used:
            np.testing.assert_allclose(warped, getattr(out, name).numpy(), atol=1e-4)
        else:  # a component the form does not use is not carried into the synthesis
            assert not warped.any()
    np.testing.assert_allclose(result.content.numpy(), spoof.numpy(), atol=1e-4)
    np.testing.assert_array_equal(result.traces.I_P.numpy(), live.numpy())
    assert result.traces.M.shape == (1, size // 8, size // 8, 1) and not result.traces.M.numpy().any()


def test_synthesize_spoof_moves_the_trace_with_the_landmarks():
    size, dx, dy = 64, 3, 2
    config = _config("single", size)
    live_lm, spoof_lm, bary, triangles, index = _geometry(size, shift=(dx, dy))
    # The spoof face sits (dx, dy) pixels right/down of the live face; a trace spot on the spoof's nose tip
    # must land on the live's nose tip.
    nose = np.round(spoof_lm.numpy()[0, 30]).astype(int)
    spot = np.zeros((1, size, size, 3), np.float32)
    spot[0, nose[1], nose[0]] = 0.5
    live = tf.fill((1, size, size, 3), 0.25)
    result = trace.synthesize_spoof(live, tf.zeros_like(live), _traces(batch=1, size=size, T=spot), live_lm,
                                    spoof_lm, bary, triangles, config)
    moved = result.image.numpy()[0, ..., 0] - 0.25
    assert np.unravel_index(np.argmax(moved), moved.shape) == (nose[1] - dy, nose[0] - dx)
    assert moved.max() == pytest.approx(0.5, abs=1e-5)

    # Everywhere inside triangles that join landmarks only (no border anchor), warped = shifted original.
    t = _random((1, size, size, 3), 33)
    warped = trace.synthesize_spoof(live, live, _traces(batch=1, size=size, T=t), live_lm, spoof_lm, bary,
                                    triangles, config).traces.T.numpy()[0]
    face_only = np.isin(index, np.nonzero((triangles.numpy() < face_model.NUM_LANDMARKS).all(axis=1))[0])
    ys, xs = np.nonzero(face_only)
    assert len(ys) > 500
    np.testing.assert_allclose(warped[ys, xs], t.numpy()[0][ys + dy, xs + dx], atol=1e-4)


def test_synthesize_spoof_passes_gradient_to_the_spoof_traces():
    size = 32
    live_lm, spoof_lm, bary, triangles, _ = _geometry(size, shift=(1.5, -0.5))
    live, spoof = _random((1, size, size, 3), 34, 0, 1), _random((1, size, size, 3), 35, 0, 1)
    t = tf.Variable(_random((1, size, size, 3), 36))
    with tf.GradientTape() as tape:
        result = trace.synthesize_spoof(live, spoof, _traces(batch=1, size=size, T=t), live_lm, spoof_lm, bary,
                                        triangles, _config("physstd", size).sizes)
        loss = tf.reduce_sum(result.image)
    gradient = tape.gradient(loss, t)
    assert gradient is not None and np.abs(gradient.numpy()).sum() > 0


def _harder_inputs(batch, size, seed):
    traces = _traces(batch=batch, size=size, B=_random((batch, size, size, 3), seed),
                     C=_random((batch, size, size, 3), seed + 1), T=_random((batch, size, size, 3), seed + 2),
                     P=_random((batch, size, size, 1), seed + 3, 0.1, 1.0), S=_random((batch, size, size, 3), seed + 4),
                     I_P=_random((batch, size, size, 3), seed + 5, 0, 1))
    return _random((batch, size, size, 3), seed + 6, 0, 1), traces, _random((batch, size, size, 3), seed + 7, 0, 1)


def test_harder_sample_scales_components_and_drops_p():
    batch, size = 64, 16
    config = _config("physstd", size)
    live, traces, content = _harder_inputs(batch, size, 40)
    first = trace.harder_sample(live, traces, content, config, seed=7)
    again = trace.harder_sample(live, traces, content, config, seed=tf.constant([7, 0]))
    other = trace.harder_sample(live, traces, content, config, seed=8)
    np.testing.assert_array_equal(first.image.numpy(), again.image.numpy())
    assert not np.allclose(first.image.numpy(), other.image.numpy())

    for name in ("S", "B", "C", "T"):
        original, scaled = getattr(traces, name).numpy(), getattr(first.traces, name).numpy()
        weight = scaled[:, :1, :1, :1] / original[:, :1, :1, :1]  # one weight per sample and component
        assert (weight >= 0).all() and (weight < 1).all()
        np.testing.assert_allclose(scaled, weight * original, atol=1e-6)
        assert weight.std() > 0.1
    kept = first.traces.P.numpy()[:, 0, 0, 0] > 0
    np.testing.assert_array_equal(first.traces.P.numpy()[kept], traces.P.numpy()[kept])
    assert not first.traces.P.numpy()[~kept].any()
    assert 0.3 < kept.mean() < 0.7
    np.testing.assert_array_equal(first.traces.I_P.numpy(), traces.I_P.numpy())
    np.testing.assert_allclose(first.image.numpy(),
                               trace.spoof_generation(live, first.traces, content, config).numpy(), atol=1e-6)


def test_harder_sample_is_stop_gradient_and_runs_in_a_graph():
    size = 16
    config = _config("physstd", size)
    live, traces, content = _harder_inputs(2, size, 50)
    t = tf.Variable(traces.T)
    with tf.GradientTape() as tape:
        result = trace.harder_sample(live, traces._replace(T=t * 1.0), content, config, seed=3)
        loss = tf.reduce_sum(result.image) + tf.reduce_sum(result.traces.T)
    assert tape.gradient(loss, t) is None
    graph = tf.function(lambda s: trace.harder_sample(live, traces, content, config, s).image)
    np.testing.assert_allclose(graph(tf.constant([3, 0], tf.int64)).numpy(),
                               trace.harder_sample(live, traces, content, config, 3).image.numpy(), atol=1e-6)


@pytest.mark.parametrize("form", TRACE_FORMS)
def test_zero_trace_gives_every_discriminator_identical_real_and_fake_inputs(form):
    import skimage.data

    from physstd.methods.physstd.discriminator import build_discriminators, resize_for_discriminator

    size = 64
    face = tf.image.resize(tf.constant(skimage.data.astronaut()[None, :256, 128:384] / 255.0, tf.float32),
                           (size, size), antialias=True)
    config = ModelConfig(image_size=size, width=0.125, trace_form=form)
    zero = _traces(batch=1, size=size)
    # The spoof is the live face itself with no trace; the synthesized spoof is then the live face too.
    reals, fakes = trace.discriminator_inputs(face, face, zero, face, config)
    discriminators = build_discriminators(config)
    for d, real, fake in zip(discriminators, reals, fakes):
        np.testing.assert_allclose(real.numpy(), fake.numpy(), atol=1e-6)
        np.testing.assert_allclose(d(real).numpy(), d(fake).numpy(), atol=1e-6)
    # The former reading compared the full-band live face with the band-limited I_low: a gap D1 sees.
    reals, fakes = trace.discriminator_inputs(face, face, zero, face, config, match_real_band=False)
    d1 = discriminators[0]
    gap = resize_for_discriminator(reals[0], d1.input_size) - resize_for_discriminator(fakes[0], d1.input_size)
    assert float(tf.sqrt(tf.reduce_mean(tf.square(gap)))) > 0.01


def test_lowpass_mode_of_the_config_reaches_every_band():
    b, c, t = _random((2, N, N, 3), 21), _random((2, N, N, 3), 22), _random((2, N, N, 3), 23)
    for mode in ("box", "point"):
        config = ModelConfig(image_size=N, lowpass=mode)
        expected = ops.lowpass(b, N // 8, mode) + ops.lowpass(c, N // 2, mode) + t
        np.testing.assert_allclose(trace.additive_trace(_traces(B=b, C=c, T=t), config).numpy(), expected.numpy(),
                                   atol=1e-6)
        image = _random((2, N, N, 3), 24, 0, 1)
        low, mid, _ = trace.hierarchical_reconstruction(image, _traces(B=b, C=c, T=t), config)
        np.testing.assert_allclose(low.numpy(), (ops.lowpass(image, N // 8, mode) - ops.lowpass(b, N // 8, mode))
                                   .numpy(), atol=1e-6)
    # The two modes differ on the bias band (N / 8 is a factor-8 shrink), so the mode is not ignored.
    box, point = (trace.additive_trace(_traces(B=b), ModelConfig(image_size=N, lowpass=m)) for m in ("box", "point"))
    assert np.abs(box.numpy() - point.numpy()).max() > 0.05


def test_gain_form_adds_a_global_gain_and_its_image_trace_holds_it():
    config = _config("physstd_gain")
    live = _random((2, N, N, 3), 31, 0, 1)
    s = np.array([0.2, -0.1, 0.05], np.float32)
    t = _random((2, N, N, 3), 32, -0.1, 0.1)
    traces = _traces(S=_random((2, N, N, 3), 33, -0.05, 0.05) + s, T=t)
    gain = 1.0 + tf.reduce_mean(traces.S, axis=(1, 2), keepdims=True)   # [S]1: the spatial mean
    spoof = trace.spoof_generation(live, traces, live, config)
    np.testing.assert_allclose(spoof.numpy(), (gain * live + t).numpy(), atol=1e-6)
    np.testing.assert_allclose(trace.reconstruct_live(spoof, traces, config).numpy(), live.numpy(), atol=1e-5)
    # What the spoof added in image space: the gain's part (gain - 1) I_live plus T_A.
    np.testing.assert_allclose(trace.image_trace(spoof, traces, config).numpy(), (spoof - live).numpy(), atol=1e-5)
    # For the paper's form the image-space trace is T_A itself, whatever P is; the effect includes P's content.
    paper = _config("physstd")
    p = _random((2, N, N, 1), 34, 0, 1)
    out = _traces(T=t, P=p, I_P=_random((2, N, N, 3), 35, 0, 1))
    np.testing.assert_allclose(trace.image_trace(live, out, paper).numpy(), t.numpy(), atol=1e-6)
    np.testing.assert_allclose(trace.overall_effect(live, out, paper).numpy(),
                               ((1 - p) * t + p * (live - out.I_P)).numpy(), atol=1e-6)


def test_band_limited_inpainting_reaches_the_low_discriminators_through_the_lowpass():
    config = _config("physstd")
    image = _random((2, N, N, 3), 41, 0, 1)
    p, i_p = _random((2, N, N, 1), 42, 0, 1), _random((2, N, N, 3), 43, 0, 1)
    out = _traces(P=p, I_P=i_p)
    keep, inpainted = 1 - p, p * i_p
    low, mid, high = trace.hierarchical_reconstruction(image, out, config, band_limit_inpainted=True)
    np.testing.assert_allclose(low.numpy(), (keep * ops.lowpass(image, N // 8) + ops.lowpass(inpainted, N // 8))
                               .numpy(), atol=1e-6)
    np.testing.assert_allclose(mid.numpy(), (keep * ops.lowpass(image, N // 2) + ops.lowpass(inpainted, N // 2))
                               .numpy(), atol=1e-6)
    np.testing.assert_allclose(high.numpy(), (keep * image + inpainted).numpy(), atol=1e-6)   # full band stays
    full_low, _, _ = trace.hierarchical_reconstruction(image, out, config)
    np.testing.assert_allclose(full_low.numpy(), (keep * ops.lowpass(image, N // 8) + inpainted).numpy(), atol=1e-6)
