"""Figures: grid placement (numbers), the paper's figure layouts, PNG files of the expected size, ROC/DET."""
import cv2
import numpy as np
import pytest
import tensorflow as tf

from deploy_fixtures import png_size
from physstd import ops, trace, viz
from physstd.config import ImageSizes
from physstd.data import face_model
from physstd.models import GeneratorOutput, ModelConfig

S = 8  # panel size of the pure layout tests


def _constant(value, size=S, channels=3):
    return np.full((size, size, channels), value, np.float32)


def _panel(grid, row, column, size=S, pad=viz.PAD):
    y, x = viz.panel_origin(row, column, size, pad)
    return grid[y:y + size, x:x + size]


def test_image_grid_places_panels_and_padding_where_expected():
    rows = [[_constant(0.1), _constant(0.2), _constant(0.3)], [_constant(0.4), None]]
    grid = viz.image_grid(rows, pad=3, background=1.0)
    assert grid.shape == (3 + 2 * (S + 3), 3 + 3 * (S + 3), 3)
    for (r, c), value in {(0, 0): 0.1, (0, 1): 0.2, (0, 2): 0.3, (1, 0): 0.4}.items():
        assert viz.panel_origin(r, c, S, 3) == (3 + r * (S + 3), 3 + c * (S + 3))
        np.testing.assert_allclose(_panel(grid, r, c, pad=3), value)
    np.testing.assert_allclose(_panel(grid, 1, 1, pad=3), 1.0)      # None -> blank
    np.testing.assert_allclose(_panel(grid, 1, 2, pad=3), 1.0)      # missing -> blank
    np.testing.assert_allclose(grid[:3], 1.0)                       # top padding
    np.testing.assert_allclose(grid[:, 3 + S:3 + S + 3], 1.0)       # gap between columns 0 and 1
    # Grey panels are replicated to RGB, values clipped to [0, 1].
    grid = viz.image_grid([[np.full((S, S), 2.0)], [np.full((S, S, 1), -1.0)]], pad=0)
    assert grid.shape == (2 * S, S, 3)
    np.testing.assert_array_equal(grid[:S], 1.0)
    np.testing.assert_array_equal(grid[S:], 0.0)


def test_image_grid_rejects_mismatched_panels():
    with pytest.raises(ValueError, match=r"panel \(0, 1\) has size"):
        viz.image_grid([[_constant(0.1), _constant(0.1, size=S + 1)]])
    with pytest.raises(ValueError, match="at least one panel"):
        viz.image_grid([[None]])


def test_signed_display_maps_the_largest_magnitude_to_the_ends():
    np.testing.assert_allclose(viz.signed_display(np.array([-0.2, 0.0, 0.1])), [0.0, 0.5, 0.75])
    np.testing.assert_allclose(viz.signed_display(np.zeros(3)), 0.5)


def _random_out(batch, size, seed=0):
    rng = np.random.default_rng(seed)

    def signed(channels):
        return tf.constant(rng.uniform(-0.3, 0.3, (batch, size, size, channels)), tf.float32)
    return GeneratorOutput(B=signed(3), C=signed(3), T=signed(3),
                           P=tf.constant(rng.uniform(0, 1, (batch, size, size, 1)), tf.float32),
                           I_P=tf.constant(rng.uniform(0, 1, (batch, size, size, 3)), tf.float32),
                           M=tf.zeros((batch, size // 8, size // 8, 1)), S=tf.zeros((batch, size, size, 3)))


def test_fig8_and_fig9_grids_put_each_component_in_its_column():
    size, config = 16, ModelConfig(image_size=16)
    images = np.random.default_rng(3).uniform(0, 1, (2, size, size, 3)).astype(np.float32)
    out = _random_out(2, size)
    arrays = viz.outputs_as_arrays(images, out, config)
    np.testing.assert_allclose(arrays["live"], trace.reconstruct_live(images, out, config).numpy())
    np.testing.assert_allclose(arrays["B_band"], ops.lowpass(out.B, config.sizes.n1).numpy(), atol=1e-6)
    np.testing.assert_allclose(arrays["C_band"], ops.lowpass(out.C, config.sizes.n2).numpy(), atol=1e-6)
    # The same bands from an export's output dict (depth under 'depth', no S).
    exported = {name: arrays[name] for name in ("B", "C", "T", "P", "I_P")}
    banded = viz.with_bands(dict(exported, depth=arrays["M"]), config)
    np.testing.assert_allclose(banded["B_band"], arrays["B_band"], atol=1e-6)
    np.testing.assert_allclose(banded["C_band"], arrays["C_band"], atol=1e-6)
    grid = viz.trace_components_grid(images, arrays)
    assert grid.shape == (viz.PAD + 2 * (size + viz.PAD), viz.PAD + 6 * (size + viz.PAD), 3)
    for r in range(2):
        np.testing.assert_allclose(_panel(grid, r, 0, size), images[r])
        for c, name in enumerate(("B_band", "C_band", "T"), start=1):
            np.testing.assert_allclose(_panel(grid, r, c, size), viz.signed_display(arrays[name][r]), atol=1e-6)
        np.testing.assert_allclose(_panel(grid, r, 4, size), np.repeat(arrays["P"][r], 3, axis=-1))
        np.testing.assert_allclose(_panel(grid, r, 5, size), np.clip(arrays["live"][r], 0, 1))
    grid = viz.disentanglement_grid(images, arrays["live"], samples_per_row=2)
    assert grid.shape == (viz.PAD + size + viz.PAD, viz.PAD + 6 * (size + viz.PAD), 3)
    np.testing.assert_allclose(_panel(grid, 0, 3, size), images[1])
    np.testing.assert_allclose(_panel(grid, 0, 4, size), viz.signed_display(images[1] - arrays["live"][1]),
                               atol=1e-6)


def test_noise_grid_puts_each_de_spoof_map_in_its_column_with_the_small_maps_repeated():
    rng = np.random.default_rng(4)
    images = rng.uniform(0, 1, (2, S, S, 3)).astype(np.float32)
    arrays = {"additive_trace": rng.uniform(-0.2, 0.4, (2, S, S, 3)), "live": rng.uniform(0, 1, (2, S, S, 3)),
              "zero_one_map": rng.uniform(0, 1, (2, 2, 2, 1)), "depth": rng.uniform(0, 1, (2, 2, 2, 1))}
    grid = viz.noise_grid(images, arrays)
    assert grid.shape == (viz.PAD + 2 * (S + viz.PAD), viz.PAD + len(viz.NOISE_COLUMNS) * (S + viz.PAD), 3)
    for r in range(2):
        trace = arrays["additive_trace"][r]
        np.testing.assert_allclose(_panel(grid, r, 0), images[r])
        np.testing.assert_allclose(_panel(grid, r, 1), 0.5 + 0.5 * trace / np.abs(trace).max(), atol=1e-6)
        for c, name in ((2, "zero_one_map"), (3, "depth")):
            small = arrays[name][r, ..., 0]
            for y, x in ((0, 0), (3, 3), (4, 3), (7, 5)):   # 2 x 2 map, pixel (y // 4, x // 4)
                np.testing.assert_allclose(_panel(grid, r, c)[y, x], small[y // 4, x // 4], atol=1e-6)
        np.testing.assert_allclose(_panel(grid, r, 4), arrays["live"][r], atol=1e-6)
    with pytest.raises(ValueError, match=r"size \(3, 3\) does not scale up to 8 x 8"):
        viz.nearest_upscaled(np.zeros((3, 3, 1)), S)


def test_fig10_synthesis_grid_layout():
    spoofs = [_constant(0.1 + 0.1 * j) for j in range(3)]
    lives = [_constant(0.6 + 0.1 * i) for i in range(2)]
    synthesized = np.stack([[_constant(0.01 * (10 * i + j)) for j in range(3)] for i in range(2)])
    grid = viz.synthesis_grid(spoofs, lives, synthesized)
    assert grid.shape == (viz.PAD + 3 * (S + viz.PAD), viz.PAD + 4 * (S + viz.PAD), 3)
    np.testing.assert_allclose(_panel(grid, 0, 0), 1.0)
    for j in range(3):
        np.testing.assert_allclose(_panel(grid, 0, j + 1), spoofs[j])
    for i in range(2):
        np.testing.assert_allclose(_panel(grid, i + 1, 0), lives[i])
        for j in range(3):
            np.testing.assert_allclose(_panel(grid, i + 1, j + 1), 0.01 * (10 * i + j), atol=1e-7)
    with pytest.raises(ValueError, match="expected"):
        viz.synthesis_grid(spoofs, lives, synthesized[:, :2])


def test_fig12_progressive_removal_matches_the_bands_of_eq9():
    size = 32
    sizes, config = ImageSizes(size), ModelConfig(image_size=size)
    image = np.random.default_rng(5).uniform(0, 1, (2, size, size, 3)).astype(np.float32)
    out = _random_out(2, size, seed=1)
    stages = viz.progressive_removal(image, out, config)
    low = ops.lowpass(out.B, sizes.n1).numpy()
    mid = ops.lowpass(out.C, sizes.n2).numpy()
    np.testing.assert_allclose(stages[0], image)
    np.testing.assert_allclose(stages[1], image - low, atol=1e-6)
    np.testing.assert_allclose(stages[2], image - low - mid, atol=1e-6)
    np.testing.assert_allclose(stages[3], image - low - mid - out.T.numpy(), atol=1e-6)
    p = out.P.numpy()
    np.testing.assert_allclose(stages[4], (1 - p) * stages[3] + p * out.I_P.numpy(), atol=1e-6)
    grid = viz.removal_grid(stages)
    assert grid.shape == (viz.PAD + 2 * (size + viz.PAD), viz.PAD + 5 * (size + viz.PAD), 3)
    np.testing.assert_allclose(_panel(grid, 1, 2, size), np.clip(stages[2][1], 0, 1))


def test_synthesize_pairs_zero_traces_keep_the_live_face_and_full_inpainting_gives_the_spoof():
    size = 32
    config = ModelConfig(image_size=size)
    rng = np.random.default_rng(2)
    landmarks = np.stack([face_model.canonical_landmarks(size) for _ in range(2)]).astype(np.float32)
    lives = rng.uniform(0, 1, (2, size, size, 3)).astype(np.float32)
    spoofs = rng.uniform(0, 1, (2, size, size, 3)).astype(np.float32)
    zeros = tf.zeros((2, size, size, 3))
    none = GeneratorOutput(B=zeros, C=zeros, T=zeros, P=zeros[..., :1], I_P=zeros, M=zeros[:, :4, :4, :1], S=zeros)
    result = viz.synthesize_pairs(lives, landmarks, spoofs, landmarks, none, config)
    assert result.shape == (2, 2, size, size, 3)
    for i in range(2):
        for j in range(2):
            np.testing.assert_allclose(result[i, j], lives[i], atol=1e-5)
    full = none._replace(P=tf.ones((2, size, size, 1)))
    result = viz.synthesize_pairs(lives, landmarks, spoofs, landmarks, full, config)
    for i in range(2):
        for j in range(2):   # same geometry: the warp is the identity, the inpainted content the spoof itself
            np.testing.assert_allclose(result[i, j], spoofs[j], atol=1e-4)


def test_png_files_have_the_grid_size_and_pixels(tmp_path):
    grid = viz.image_grid([[_constant(0.25), _constant(0.75)]])
    written = viz.save_png(tmp_path / "grid.png", grid)
    assert png_size(tmp_path / "grid.png") == (grid.shape[1], grid.shape[0])
    read = cv2.cvtColor(cv2.imread(str(tmp_path / "grid.png")), cv2.COLOR_BGR2RGB)
    np.testing.assert_array_equal(read, viz.to_uint8(grid))
    np.testing.assert_array_equal(read, written)
    assert read[viz.PAD, viz.PAD, 0] == 64 and read[viz.PAD, viz.PAD + S + viz.PAD, 0] == 191
    titled = viz.save_png(tmp_path / "titled.png", grid, column_titles=("a", "b"), panel_size=S)
    assert png_size(tmp_path / "titled.png") == (grid.shape[1], grid.shape[0] + viz.TITLE_HEIGHT)
    np.testing.assert_array_equal(titled[viz.TITLE_HEIGHT:], viz.to_uint8(grid))
    assert titled[:viz.TITLE_HEIGHT].min() < 128     # the titles are drawn
    with pytest.raises(ValueError, match="titles"):
        viz.save_png(tmp_path / "bad.png", grid, column_titles=("a", "b", "c"), panel_size=S)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["grid.png", "titled.png"]  # no temporary left


def test_row_titles_name_each_row_beside_it_and_column_titles_sit_over_their_column():
    size, pad = 24, viz.PAD
    grid = viz.image_grid([[_constant(0.5, size)] * 3] * 3)
    types = viz.spoof_type_titles([0, 1, 13])   # spoof_types ids: live, replay, partial_paper
    assert types == ["live", "replay", "partial_paper"]
    image, labels = viz.titled(grid, ("a", "b", "c"), types, size)
    left = viz.row_title_width(types)
    assert image.shape == (viz.TITLE_HEIGHT + grid.shape[0], left + grid.shape[1], 3)
    np.testing.assert_array_equal(image[viz.TITLE_HEIGHT:, left:], viz.to_uint8(grid))   # the grid is unchanged
    columns, rows = labels[:3], labels[3:]
    assert [label.text for label in columns] == ["a", "b", "c"] and [label.text for label in rows] == types
    for c, label in enumerate(columns):   # each column title above its column, centred on it
        x0 = left + viz.panel_origin(0, c, size)[1]
        assert x0 <= label.x and label.x + label.width <= x0 + size and label.y + label.height <= viz.TITLE_HEIGHT
        assert abs((label.x + label.width / 2) - (x0 + size / 2)) <= 1
    for r, label in enumerate(rows):      # each row title left of the grid, within its row's height
        y0 = viz.TITLE_HEIGHT + viz.panel_origin(r, 0, size)[0]
        assert y0 <= label.y and label.y + label.height <= y0 + size and label.x + label.width <= left
        assert image[label.y:label.y + label.height, label.x:label.x + label.width].min() < 128   # drawn
    # Two-line titles (a score and a decision) stack within the row.
    image, labels = viz.titled(grid, None, ["score 0.125\nATTACK", "x\nbona fide", "y"], size)
    assert image.shape[0] == grid.shape[0] and labels[0].text == "score 0.125\nATTACK"
    one_line = viz.titled(grid, None, ["x", "y", "z"], size)[1][0].height
    assert labels[0].height > 2 * one_line and labels[0].height <= size
    with pytest.raises(ValueError, match="2 titles for a grid of 3 rows"):
        viz.titled(grid, None, ["a", "b"], size)


def test_roc_and_det_are_both_in_percent():
    rng = np.random.default_rng(0)
    labels = np.repeat([0, 1], 50)
    scores = labels + rng.normal(0, 0.7, 100)
    figure = viz.roc_det_plot({"fold 1": (labels, scores)}, "test")
    roc, det = figure.axes
    assert (roc.get_xlabel(), det.get_xlabel()) == ("BPCER (%)", "BPCER (%)")
    assert roc.get_ylabel() == "attack detection rate, 1 - APCER (%)" and det.get_ylabel() == "APCER (%)"
    assert roc.get_xlim() == (0, 100) and roc.get_ylim()[1] > 100
    from sklearn import metrics as sk_metrics
    bpcer, detected, _ = sk_metrics.roc_curve(labels, scores)
    curve = roc.get_lines()[0]
    np.testing.assert_allclose(curve.get_xdata(), 100 * bpcer)
    np.testing.assert_allclose(curve.get_ydata(), 100 * detected)
    assert [t.get_text() for t in det.get_xticklabels()] == ["0.1", "1", "5", "20", "50", "80"]   # percent too
    assert [t.get_text() for t in det.get_yticklabels()] == ["0.1", "1", "5", "20", "50", "80"]


def test_roc_det_figure_size_and_file(tmp_path):
    rng = np.random.default_rng(0)
    labels = np.repeat([0, 1], 50)
    scores = labels + rng.normal(0, 0.7, 100)
    image = viz.roc_det_figure({"fold 1": (labels, scores), "fold 2": (labels, -scores)}, "test",
                               path=tmp_path / "roc.png")
    width, height = viz.ROC_DET_SIZE
    assert image.shape == (height, width, 3) and image.dtype == np.float32
    assert png_size(tmp_path / "roc.png") == (width, height)
    assert 0.0 <= image.min() < 0.5 < image.max() <= 1.0
