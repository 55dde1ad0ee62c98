"""Sharpness of the synthetic set's renders against the packaged photos they come from
(`python -m experiments.synthetic_quality`). Not a timing.

The statistic (physstd.eval.image_quality.high_frequency_rms): the RMS, in 8-bit levels, of the high band of
PhySTD paper, Eq. 9, x - [x]n2 (n2 = N/2, ImageSizes.n2; [.]n is ops.lowpass), of the luminance of an N x N face
crop, over its central 3/4 (the face). Blur and strong JPEG lower it; noise, halftone dots and moire raise it.

For each of the first --identities sources (astronaut, grace_hopper, then lfw faces): the statistic of the
packaged photo itself under the training crop, and, as a ratio to it, that of --videos one-frame renders per
kind: the frames of live videos, the bona fide twins of print and replay videos (the same capture as their spoof
frame without the attack), and the print and replay frames themselves (there the trace changes the
sharpness: that is the trace, not the camera). Crops are taken at the true posed landmarks (no face detection),
so the numbers do not depend on dlib. Prints the median, the 10th-90th percentiles and how many renders are at
least 0.95 of the photo's sharpness (as sharp as the photo) and at most 0.6 of it (soft).
"""
import numpy as np
from absl import app, flags

from physstd.eval.image_quality import high_frequency_rms

KINDS = (("live", "live"), ("print twin", "print"), ("replay twin", "replay"), ("print frame", "print"),
         ("replay frame", "replay"))   # (label, rendered type); a "twin" is the bona fide frame of a spoof video
SHARP, SOFT = 0.95, 0.6                # ratios to the photo's sharpness counted as "as sharp" and "soft"

flags.DEFINE_integer("identities", 3, "sources (packaged photos with a face, in identity order)", lower_bound=1)
flags.DEFINE_integer("videos", 32, "one-frame renders per kind and source", lower_bound=1)
flags.DEFINE_integer("image_size", 64, "crop size N (multiple of 8)", lower_bound=16)
flags.DEFINE_integer("seed", 0, "seed of the renders")
FLAGS = flags.FLAGS


def crop(image, landmarks, image_size):
    """The training crop (preprocess.crop_affine, warp_to_crop) of an image at its (68, 2) landmarks."""
    from physstd.data.preprocess import crop_affine, warp_to_crop

    return warp_to_crop(image, crop_affine(landmarks, image_size), image_size)


def render_crops(source, kind, videos, image_size, seed=0, twin=True):
    """(videos, N, N, 3) uint8 crops of the first frame of `videos` renders of `source` (a synthetic.SourceFace)
    as `kind` (live or a spoof type), seeded as the set's video <name>_<kind>_<i>: the bona fide twin of a spoof
    frame when twin, else the captured frame."""
    from physstd.data import synthetic

    crops = []
    for i in range(videos):
        frames, _, _ = synthetic.render_video(source, kind, 1, image_size,
                                              synthetic.video_rng(seed, f"{source.name}_{kind}_{i}"))
        frame = frames[0]
        crops.append(crop(frame.live if twin else frame.frame, frame.landmarks, image_size))
    return np.stack(crops)


def main(argv):
    del argv
    from physstd.data import synthetic

    size = FLAGS.image_size
    print(f"high-band RMS (Eq. 9, x - [x]N/2, luminance, 8-bit levels) of {FLAGS.videos} one-frame renders per "
          f"kind at N = {size}, as a ratio to the packaged photo's own under the same crop")
    print(f"{'source':>13} {'photo':>6} {'kind':>13} {'median':>6} {'p10':>5} {'p90':>5} "
          f"{f'>={SHARP:g}':>6} {f'<={SOFT:g}':>5}")
    for source in synthetic.find_faces(FLAGS.identities):
        photo = high_frequency_rms(crop(source.image, source.landmarks, size)[None])[0]
        for label, kind in KINDS:
            renders = render_crops(source, kind, FLAGS.videos, size, FLAGS.seed, twin=not label.endswith("frame"))
            ratio = high_frequency_rms(renders) / photo
            p10, p90 = np.percentile(ratio, [10, 90])
            print(f"{source.name:>13} {photo:>6.2f} {label:>13} {np.median(ratio):>6.2f} {p10:>5.2f} {p90:>5.2f} "
                  f"{int((ratio >= SHARP).sum()):>6} {int((ratio <= SOFT).sum()):>5}", flush=True)
    return 0


if __name__ == "__main__":
    app.run(main)
