"""The frames of the supervised ceiling of trace recovery on the synthetic set: images with their true traces and
inpainting masks (truth.npz), on which the PhySTD generator is trained to regress its additive trace
(physstd.methods.physstd.supervised). Its recovery bounds what one frame and this network size let any model recover
(experiments/trace_ceiling.py prints it next to PhySTD runs; physstd.eval.trace_recovery scores a saved one as a
reference row)."""
import numpy as np

from physstd.data import pipeline


def load_frames(data_root, video_ids, image_size):
    """(images, true traces, true inpainting masks (F, N, N, 1), labels) of every frame of video_ids (numpy)."""
    parts = {"image": [], "true_trace": [], "true_mask": [], "label": []}
    for batch in pipeline.eval_dataset(data_root, video_ids, image_size, 64, include_truth=True):
        for key in parts:
            parts[key].append(batch[key].numpy())
    return tuple(np.concatenate(parts[key]) for key in parts)
