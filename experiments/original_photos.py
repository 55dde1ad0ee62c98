"""Why does a demo export score an identity's original photo as an attack? (`python -m experiments.original_photos
--saved_model=demo_output/saved_model`). Not a timing.

For each of the first --identities sources (astronaut, grace_hopper, then lfw faces) it scores, with the export and
the crop run_predict.py uses, the packaged photo and degraded copies of it (Gaussian blur, sensor noise + JPEG at
quality 75, half resolution: physstd.eval.image_quality.degraded_copies), and --renders fresh live renders of the
identity: the synthetic set's own renderer (pose, light, sensor, JPEG drawn from the set's distribution) under
seeds the set never used. Prints each score
against the threshold and, per source, how many fresh renders score as attacks.

Reading it: when degrading the photo does not bring its score below the threshold, image quality is not what the
detector reacts to; when fresh renders of the same identity score as attacks too, the detector has memorised that
identity's few training lives rather than learned what a live face of that kind looks like.
"""
import numpy as np
from absl import app, flags

from physstd.eval.image_quality import degraded_copies

flags.DEFINE_string("saved_model", "demo_output/saved_model", "SavedModel folder (make demo writes this one)")
flags.DEFINE_integer("identities", 4, "sources (packaged photos with a face, in identity order)", lower_bound=1)
flags.DEFINE_integer("renders", 16, "fresh live renders per source", lower_bound=0)
flags.DEFINE_integer("seed", 12345, "seed of the fresh renders and the added noise")
FLAGS = flags.FLAGS


def fresh_renders(source, count, image_size, seed):
    """`count` one-frame live renders of a synthetic.SourceFace under video ids the set never uses."""
    from physstd.data import synthetic

    return [synthetic.render_video(source, "live", 1, image_size,
                                   synthetic.video_rng(seed, f"{source.name}_fresh_{i}"))[0][0].frame
            for i in range(count)]


def main(argv):
    del argv
    from physstd import predict
    from physstd.data import synthetic

    predictor = predict.Predictor(FLAGS.saved_model)
    size, threshold = int(predictor.info["image_size"]), predictor.threshold
    print(f"scores of {FLAGS.saved_model} (attack if score >= {threshold:.3f})")
    for source in synthetic.find_faces(FLAGS.identities):
        rng = np.random.default_rng(FLAGS.seed)
        cells = []
        for name, image in degraded_copies(source.image, rng).items():
            face = predictor.predict_rgb(name, image)
            cells.append(f"{name} {face.score:.3f}" if face is not None else f"{name} (no face)")
        renders = fresh_renders(source, FLAGS.renders, size, FLAGS.seed)
        faces = (predictor.predict_rgb(f"render {i}", render) for i, render in enumerate(renders))
        scores = [face.score for face in faces if face is not None]
        attacks = sum(s >= threshold for s in scores)
        print(f"{source.name:>13}: " + ", ".join(cells)
              + f"; fresh live renders: {attacks}/{len(scores)} scored as attacks"
              + (f" (median {np.median(scores):.3f})" if scores else ""), flush=True)
    return 0


if __name__ == "__main__":
    app.run(main)
