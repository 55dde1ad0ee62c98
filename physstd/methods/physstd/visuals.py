"""PhySTD's TensorBoard image grid of training (Method.image_grid): a row per sample of the trainer's visuals
(live rows first, then spoof rows), the columns of GRID_COLUMNS. Traces are shown as 0.5 + 0.5 x / max|x| per
panel (so faint traces stay visible); the depth map and its target are scaled up to N with nearest-neighbour."""
import numpy as np

from physstd import viz

GRID_COLUMNS = ("input", "B", "C", "T", "P", "I_P", "live reconstruction", "synthesized spoof", "depth M",
                "depth target M0")


def _rgb(x):
    return np.repeat(x, 3, axis=-1) if x.shape[-1] == 1 else x


def image_grid(visuals):
    """(1, rows * N, len(GRID_COLUMNS) * N, 3) float32 in [0, 1] from the numpy arrays of trainer.visuals()."""
    images = visuals["image"]
    size = images.shape[1]
    rows = []
    for i in range(images.shape[0]):
        panels = [images[i]]
        panels += [viz.signed_display(visuals[name][i]) for name in ("B", "C", "T")]
        panels += [_rgb(visuals["P"][i]), visuals["I_P"][i], visuals["reconstruction"][i], visuals["synthesis"][i]]
        panels += [_rgb(viz.nearest_upscaled(visuals[name][i], size)) for name in ("M", "depth_target")]
        rows.append(np.concatenate([np.clip(p, 0.0, 1.0) for p in panels], axis=1))
    return np.concatenate(rows, axis=0)[None].astype(np.float32)
