"""Figures of the PhySTD paper as PNG files and as numpy image grids (for TensorBoard too).

Every `*_grid` function returns a float32 (H, W, 3) array in [0, 1]; `tf.summary.image(name, grid[None], step)`
shows it in TensorBoard, `save_png(path, grid, column_titles, panel_size, row_titles=...)` writes it with a
title over each column and one left of each row (the spoof type of a sample, or its score and decision). The layout
is plain numpy (`image_grid`): panel (row r, column c) of size S x S starts at pixel (pad + r (S + pad), pad + c (S + pad)).

    trace_components_grid   Fig. 8:  input | [B]n1 | [C]n2 | T | P | live reconstruction  (one row per sample)
    noise_grid              De-Spoof paper, Fig. 1, 6: input | noise N (RGB) | 0\\1 map | depth of I_hat | I_hat
    disentanglement_grid    Fig. 9:  input | overall trace I - I_live | live reconstruction
    synthesis_grid          Fig. 10: top row source spoofs, left column target lives, body the synthesized spoofs
    removal_grid            Fig. 12: I | I - [B] | I - [B] - [C] | I - T_A | live reconstruction
    roc_det_figure          ROC and DET curves of one protocol (one curve per fold or method)

B and C are shown as the bands that enter T_A (Eq. 5): [B]n1 and [C]n2, what the live reconstruction removes
(the raw outputs may carry energy outside their band, which has no effect). Signed traces are shown as 0.5 + 0.5 x / max|x| per panel, so that faint traces stay
visible (grey = 0); P is shown as grey levels; PhySTD's depth map is not part of these figures. De-Spoof's 0\\1 map
and depth (N/8 x N/8) are shown as grey levels scaled up to N by nearest neighbour.
Component inputs are dicts of numpy arrays with the keys of a SavedModel output (physstd.export): B, C, T, P,
I_P, live, ... plus B_band and C_band; `outputs_as_arrays` turns a GeneratorOutput into one, `with_bands` adds the
bands to an export's outputs.
"""
import collections
import os

import cv2
import numpy as np

from physstd import files
from physstd.data import face_model, spoof_types
from physstd.models import GeneratorOutput

PAD = 2
BACKGROUND = 1.0  # white gaps between panels
TITLE_HEIGHT = 16
FIG8_COLUMNS = ("input", "[B]n1", "[C]n2", "T", "P", "live")
FIG9_COLUMNS = ("input", "overall trace", "live")
NOISE_COLUMNS = ("input", "noise N", "0\\1 map", "depth", "live")
FIG12_COLUMNS = ("I", "I - B", "I - B - C", "I - B - C - T", "live")
ROC_DET_SIZE = (1000, 450)  # width, height in pixels of roc_det_figure


# --- assembly -------------------------------------------------------------------------------------------------
def signed_display(x):
    """A signed trace as an image in [0, 1]: 0.5 + 0.5 x / max|x| (all grey when x is 0)."""
    x = np.asarray(x, dtype=np.float32)
    peak = float(np.max(np.abs(x))) if x.size else 0.0
    return np.full_like(x, 0.5) if peak == 0 else 0.5 + 0.5 * x / peak


def nearest_upscaled(x, size):
    """An (h, w[, c]) map scaled up to (size, size[, c]) by repeating each pixel (size a multiple of h and w)."""
    x = np.asarray(x)
    if size % x.shape[0] or size % x.shape[1]:
        raise ValueError(f"a map of size {x.shape[:2]} does not scale up to {size} x {size} by an integer factor")
    return np.repeat(np.repeat(x, size // x.shape[0], axis=0), size // x.shape[1], axis=1)


def _rgb(panel):
    panel = np.asarray(panel, dtype=np.float32)
    if panel.ndim == 2:
        panel = panel[..., None]
    if panel.ndim != 3 or panel.shape[-1] not in (1, 3):
        raise ValueError(f"a panel must be (H, W), (H, W, 1) or (H, W, 3); got shape {panel.shape}")
    return np.repeat(panel, 3, axis=-1) if panel.shape[-1] == 1 else panel


def panel_origin(row, column, panel_size, pad=PAD):
    """(y, x) of the top-left pixel of panel (row, column) in an `image_grid` of square panels."""
    return pad + row * (panel_size + pad), pad + column * (panel_size + pad)


def image_grid(rows, pad=PAD, background=BACKGROUND):
    """(H, W, 3) float32 in [0, 1] from a list of rows of equal-size panels ((H, W[, 1|3]) arrays or None = blank).

    Rows may differ in length (missing panels are blank). Values are clipped to [0, 1].
    """
    rows = [list(row) for row in rows]
    panels = [p for row in rows for p in row if p is not None]
    if not panels:
        raise ValueError("image_grid needs at least one panel")
    height, width = np.shape(panels[0])[:2]
    columns = max(len(row) for row in rows)
    grid = np.full((pad + len(rows) * (height + pad), pad + columns * (width + pad), 3), background, np.float32)
    for r, row in enumerate(rows):
        for c, panel in enumerate(row):
            if panel is None:
                continue
            panel = _rgb(panel)
            if panel.shape[:2] != (height, width):
                raise ValueError(f"panel ({r}, {c}) has size {panel.shape[:2]}; every panel must be {(height, width)}")
            y, x = pad + r * (height + pad), pad + c * (width + pad)
            grid[y:y + height, x:x + width] = np.clip(panel, 0.0, 1.0)
    return grid


Label = collections.namedtuple("Label", "text x y width height")
Label.__doc__ = "A title drawn by `titled`: its text and box (left, top, width, height) in pixels of the image."
_FONT, _FONT_SCALE, _LINE_GAP = cv2.FONT_HERSHEY_SIMPLEX, 0.35, 3


def _text_box(lines):
    """(width, height) of lines of text stacked with _LINE_GAP, and the height of one line."""
    sizes = [cv2.getTextSize(line, _FONT, _FONT_SCALE, 1)[0] for line in lines]
    line_height = max(height for _, height in sizes)
    return max(width for width, _ in sizes), len(lines) * (line_height + _LINE_GAP) - _LINE_GAP, line_height


def row_title_width(row_titles, pad=PAD):
    """Width in pixels of the strip `titled` puts left of a grid for these row titles ('\n' separates lines)."""
    return 2 * pad + max(_text_box(str(title).split("\n"))[0] for title in row_titles)


def titled(grid, column_titles=None, row_titles=None, panel_size=None, pad=PAD):
    """(image uint8, [Label]): an `image_grid` of square panels with a strip of TITLE_HEIGHT above it (one title
    centred over each column) and/or a strip left of it (one title per row, its lines centred on the row, e.g. a
    sample's spoof type or its score and decision). Labels give each drawn title and its box."""
    grid = to_uint8(grid) if np.asarray(grid).dtype != np.uint8 else np.asarray(grid)
    if panel_size is None:
        raise ValueError("titled: titles need panel_size (the panel width of the grid)")
    step = panel_size + pad
    num_rows, num_columns = (grid.shape[0] - pad) // step, (grid.shape[1] - pad) // step
    for titles, count, what in ((column_titles, num_columns, "columns"), (row_titles, num_rows, "rows")):
        if titles and len(titles) != count:
            raise ValueError(f"{len(titles)} titles for a grid of {count} {what} of panel size {panel_size}")
    top = TITLE_HEIGHT if column_titles else 0
    left = row_title_width(row_titles, pad) if row_titles else 0
    image = np.full((top + grid.shape[0], left + grid.shape[1], 3), 255, np.uint8)
    image[top:, left:] = grid
    labels = []

    def draw(lines, x, y, width):   # lines centred in [x, x + width), the first line's top at y
        text_width, text_height, line_height = _text_box(lines)
        for k, line in enumerate(lines):
            line_width = cv2.getTextSize(line, _FONT, _FONT_SCALE, 1)[0][0]
            baseline = y + line_height + k * (line_height + _LINE_GAP)
            cv2.putText(image, line, (x + max(0, (width - line_width) // 2), baseline), _FONT, _FONT_SCALE,
                        (0, 0, 0), 1, cv2.LINE_AA)
        return Label("\n".join(lines), x + max(0, (width - text_width) // 2), y, text_width, text_height)

    for c, title in enumerate(column_titles or ()):
        _, height, _ = _text_box([str(title)])
        labels.append(draw([str(title)], left + pad + c * step, (top - height) // 2, panel_size))
    for r, title in enumerate(row_titles or ()):
        lines = str(title).split("\n")
        _, height, _ = _text_box(lines)
        labels.append(draw(lines, pad, top + pad + r * step + (panel_size - height) // 2, left - 2 * pad))
    return image, labels


def to_uint8(image):
    """float image in [0, 1] -> uint8 (rounded, clipped)."""
    return np.round(np.clip(np.asarray(image, dtype=np.float32), 0.0, 1.0) * 255.0).astype(np.uint8)


def save_png(path, image, column_titles=None, panel_size=None, pad=PAD, row_titles=None):
    """Write an RGB float [0, 1] (or uint8) image as PNG, atomically; with column_titles and/or row_titles the
    grid gets title strips (`titled`, which needs panel_size).

    Returns the (H, W, 3) uint8 array written.
    """
    image = np.asarray(image)
    if image.dtype != np.uint8:
        image = to_uint8(image)
    if column_titles or row_titles:
        image, _ = titled(image, column_titles, row_titles, panel_size, pad)
    path = os.fspath(path)
    ok, encoded = cv2.imencode(".png", cv2.cvtColor(image, cv2.COLOR_RGB2BGR))
    if not ok:
        raise ValueError(f"{path}: PNG encoding failed for an image of shape {image.shape}")
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    files.write_bytes_atomic(path, encoded.tobytes())
    return image


def spoof_type_titles(type_ids):
    """Row titles naming each sample's spoof type (physstd.data.spoof_types ids; 'live' for bona fide)."""
    return [spoof_types.NAMES[int(type_id)] for type_id in type_ids]


# --- model outputs ---------------------------------------------------------------------------------------------
def generator_output(arrays):
    """A GeneratorOutput of numpy arrays from an export's output dict (M = 'depth'; S zeros when absent)."""
    values = {name: np.asarray(arrays[name], np.float32) for name in ("B", "C", "T", "P", "I_P")}
    return GeneratorOutput(M=np.asarray(arrays["depth"], np.float32),
                           S=np.asarray(arrays.get("S", np.zeros_like(values["B"])), np.float32), **values)


def _bands(out, sizes):
    """([B]n1, [C]n2): the band of B and of C in T_A (trace.additive_trace with the other components zeroed)."""
    import tensorflow as tf

    from physstd import trace   # TensorFlow: this module stays free of it until a trace figure is drawn

    out = type(out)(*[tf.convert_to_tensor(x, tf.float32) for x in out])
    zeros = tf.zeros_like(out.B)
    return (trace.additive_trace(out._replace(C=zeros, T=zeros), sizes),
            trace.additive_trace(out._replace(B=zeros, T=zeros), sizes))


def with_bands(arrays, sizes):
    """An export's output dict (numpy) plus B_band = [B]n1 and C_band = [C]n2."""
    low, mid = _bands(generator_output(arrays), sizes)
    return dict(arrays, B_band=np.asarray(low), C_band=np.asarray(mid))


def outputs_as_arrays(image, out, sizes):
    """{B, C, T, P, I_P, M, S, B_band, C_band, additive_trace, live} numpy arrays of a GeneratorOutput.

    sizes: the ModelConfig (or ImageSizes) of the generator, for the bands, T_A and the live reconstruction (Eq. 5).
    """
    from physstd import trace   # TensorFlow: this module stays free of it until a trace figure is drawn

    arrays = {name: np.asarray(getattr(out, name)) for name in out._fields}
    low, mid = _bands(out, sizes)
    arrays.update(B_band=np.asarray(low), C_band=np.asarray(mid))
    arrays["additive_trace"] = np.asarray(trace.additive_trace(out, sizes))
    arrays["live"] = np.asarray(trace.reconstruct_live(image, out, sizes))
    return arrays


def progressive_removal(image, out, sizes):
    """Fig. 12 stages (I, I - [B]n1, I - [B]n1 - [C]n2, I - T_A, live reconstruction) as numpy arrays.

    The bands are the ones of T_A (trace.additive_trace with the other components zeroed), so the fourth stage
    is exactly I - T_A and the last one Eq. 5.
    """
    import tensorflow as tf

    from physstd import trace   # TensorFlow: this module stays free of it until a trace figure is drawn

    image = tf.convert_to_tensor(image, tf.float32)
    low, mid = _bands(out, sizes)
    low_mid = low + mid
    full = trace.additive_trace(out, sizes)
    live = trace.reconstruct_live(image, out, sizes)
    return [np.asarray(x) for x in (image, image - low, image - low_mid, image - full, live)]


# --- the paper's figures ----------------------------------------------------------------------------------------
def trace_components_grid(images, arrays):
    """Fig. 8: one row per sample: input, [B]n1, [C]n2, T, P, live reconstruction (`arrays` with bands)."""
    rows = []
    for i in range(len(images)):
        rows.append([images[i], signed_display(arrays["B_band"][i]), signed_display(arrays["C_band"][i]),
                     signed_display(arrays["T"][i]), arrays["P"][i], arrays["live"][i]])
    return image_grid(rows)


def noise_grid(images, arrays):
    """De-Spoof paper, Fig. 1, 6: one row per sample: input, spoof noise N (its RGB part, `additive_trace`),
    0\\1 map, DQ-Net's depth of I_hat, live reconstruction I_hat = I - N (`arrays`: a De-Spoof export's outputs)."""
    size = np.shape(images)[1]
    rows = []
    for i in range(len(images)):
        rows.append([images[i], signed_display(arrays["additive_trace"][i]),
                     nearest_upscaled(arrays["zero_one_map"][i], size), nearest_upscaled(arrays["depth"][i], size),
                     arrays["live"][i]])
    return image_grid(rows)


def disentanglement_grid(images, live, samples_per_row=1):
    """Fig. 9: triplets (input, overall trace I - I_live, live), `samples_per_row` triplets side by side."""
    triplets = [[images[i], signed_display(np.asarray(images[i]) - np.asarray(live[i])), live[i]]
                for i in range(len(images))]
    rows = [sum(triplets[start:start + samples_per_row], [])
            for start in range(0, len(triplets), samples_per_row)]
    return image_grid(rows)


def synthesis_grid(spoofs, lives, synthesized):
    """Fig. 10: row 0 = [blank, source spoofs...]; row 1 + i = [live i, synthesized[i, 0], synthesized[i, 1], ...].

    synthesized: (num_lives, num_spoofs, N, N, 3), synthesized[i, j] = live i with the traces of spoof j.
    """
    synthesized = np.asarray(synthesized)
    if synthesized.shape[:2] != (len(lives), len(spoofs)):
        raise ValueError(f"synthesized has shape {synthesized.shape[:2]}; expected (lives, spoofs) = "
                         f"{(len(lives), len(spoofs))}")
    rows = [[None] + list(spoofs)]
    rows += [[lives[i]] + list(synthesized[i]) for i in range(len(lives))]
    return image_grid(rows)


def removal_grid(stages):
    """Fig. 12: one row per sample from `progressive_removal` (a list of 5 (batch, N, N, 3) arrays)."""
    return image_grid([[stage[i] for stage in stages] for i in range(len(stages[0]))])


def synthesize_pairs(live_images, live_landmarks, spoof_images, spoof_landmarks, spoof_out, model_config):
    """(num_lives, num_spoofs, N, N, 3): every live face with the traces of every spoof (Eq. 8, 12-15)."""
    import tensorflow as tf

    from physstd import ops, trace   # TensorFlow: this module stays free of it until a trace figure is drawn

    live_images = np.asarray(live_images, np.float32)
    size = live_images.shape[1]
    triangles = face_model.face_triangles(np.asarray(live_landmarks).shape[1])
    bary = [ops.triangle_barycentrics(np.asarray(points, np.float64), triangles, size) for points in live_landmarks]
    num_spoofs = len(spoof_images)
    result = np.zeros((len(live_images), num_spoofs, size, size, 3), np.float32)
    for i in range(len(live_images)):
        def repeat(x):
            return tf.repeat(tf.convert_to_tensor(x)[None], num_spoofs, axis=0)
        synthesis = trace.synthesize_spoof(
            repeat(live_images[i]), tf.convert_to_tensor(spoof_images, tf.float32), spoof_out,
            repeat(np.asarray(live_landmarks[i], np.float32)), tf.convert_to_tensor(spoof_landmarks, tf.float32),
            (repeat(bary[i][0]), repeat(bary[i][1])), triangles, model_config)
        result[i] = np.asarray(synthesis.image)
    return result


def roc_det_plot(curves, title=""):
    """The matplotlib Figure (Agg) of roc_det_figure: ROC and DET of {name: (labels, scores)}, both axes of both in
    percent (BPCER %, APCER % / attack detection rate 1 - APCER %); DET on normal-deviate scales."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from scipy.stats import norm
    from sklearn import metrics as sk_metrics

    dpi = 100
    figure = Figure(figsize=(ROC_DET_SIZE[0] / dpi, ROC_DET_SIZE[1] / dpi), dpi=dpi)
    FigureCanvasAgg(figure)
    roc_axes, det_axes = figure.subplots(1, 2)
    ticks = np.array([0.001, 0.01, 0.05, 0.2, 0.5, 0.8])
    clip = 1e-4
    for name, (labels, scores) in curves.items():
        bpcer, detected, _ = sk_metrics.roc_curve(labels, scores)
        auc = sk_metrics.auc(bpcer, detected)
        roc_axes.plot(100 * bpcer, 100 * detected, label=f"{name} (AUC {100 * auc:.1f}%)")
        det_bpcer, det_apcer, _ = sk_metrics.det_curve(labels, scores)
        det_axes.plot(norm.ppf(np.clip(det_bpcer, clip, 1 - clip)), norm.ppf(np.clip(det_apcer, clip, 1 - clip)),
                      label=name)
    roc_axes.plot([0, 100], [0, 100], color="0.7", linestyle=":", linewidth=1)
    roc_axes.set(xlabel="BPCER (%)", ylabel="attack detection rate, 1 - APCER (%)", xlim=(0, 100),
                 ylim=(0, 101), title="ROC")
    roc_axes.legend(loc="lower right", fontsize=8)
    det_axes.set(xlabel="BPCER (%)", ylabel="APCER (%)", title="DET")
    det_axes.set_xticks(norm.ppf(ticks), [f"{100 * t:g}" for t in ticks])
    det_axes.set_yticks(norm.ppf(ticks), [f"{100 * t:g}" for t in ticks])
    det_axes.set_xlim(norm.ppf(clip), norm.ppf(0.8))
    det_axes.set_ylim(norm.ppf(clip), norm.ppf(0.8))
    det_axes.grid(True, color="0.9")
    if title:
        figure.suptitle(title)
    figure.tight_layout()
    return figure


def roc_det_figure(curves, title="", path=None):
    """ROC and DET curves (roc_det_plot) of {name: (labels, scores)} as an (ROC_DET_SIZE[1], ROC_DET_SIZE[0], 3)
    float32 array; writes a PNG when path is given. Labels 1 = attack, scores higher = attack (physstd.eval.metrics).
    """
    figure = roc_det_plot(curves, title)
    figure.canvas.draw()
    image = np.asarray(figure.canvas.buffer_rgba())[..., :3].astype(np.float32) / 255.0
    if path is not None:
        save_png(path, image)
    return image
