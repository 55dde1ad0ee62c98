"""Eq. 10's trace norm read two ways, scored on existing runs (`python -m experiments.trace_norm DATA_ROOT RUN...`).
Not a timing.

components: (|B|+|C|+|T|+|P|)/N^2, the paper's Eq. 10 as written (physstd.methods.physstd.score.frame_statistics);
effect: mean |I - reconstruct_live(I)|, what the traces change in the image. Prints one JSON line per run with the
frame-level AUC of each norm alone and of the depth term (-mean M) on the dev and test splits of the `identity`
protocol, and the mean effect of live and spoof frames.
"""
import json
import sys

import numpy as np

from physstd import trace
from physstd.data import pipeline, protocols
from physstd.eval import metrics
from physstd.methods.physstd import score as scoring
from physstd.methods.physstd.inference import load_generator


def norms_on_split(generator, model_config, data_root, split):
    """(labels, component norm, effect norm, depth mean) of every frame of one split of the identity protocol."""
    video_ids = protocols.load_split(f"{data_root}/protocols", "identity", split)
    columns = {"label": [], "components": [], "effect": [], "depth": []}
    for batch in pipeline.eval_dataset(data_root, video_ids, model_config.image_size, 32):
        image = batch["image"]
        out = generator(image, training=False)
        components, depth = scoring.frame_statistics(*(x.numpy() for x in (out.B, out.C, out.T, out.P, out.M)))
        effect = np.abs((image - trace.reconstruct_live(image, out, model_config)).numpy()).mean(axis=(1, 2, 3))
        for key, value in zip(columns, (batch["label"].numpy(), components, effect, depth)):
            columns[key].append(value)
    return tuple(np.concatenate(columns[key]) for key in columns)


def main(data_root, runs):
    for run in runs:
        generator, model_config = load_generator(run)
        row = {"run": run.rstrip("/").split("/")[-1]}
        for split in ("dev", "test"):
            labels, components, effect, depth = norms_on_split(generator, model_config, data_root, split)
            row[split] = {"components": metrics.auc(labels, components), "effect": metrics.auc(labels, effect),
                          "depth": metrics.auc(labels, -depth), "live_effect": float(effect[labels == 0].mean()),
                          "spoof_effect": float(effect[labels == 1].mean())}
        print(json.dumps(row), flush=True)


if __name__ == "__main__":
    if len(sys.argv) < 3:
        sys.exit("usage: python -m experiments.trace_norm DATA_ROOT RUN_DIR [RUN_DIR ...]")
    main(sys.argv[1], sys.argv[2:])
