"""Prepare a face anti-spoofing dataset once: face crops, 140 landmarks, depth M0 and preliminary mask P0.

    python run_preprocess.py --dataset=oulu_npu --input_dir=/data/OULU-NPU --output_dir=prepared/oulu_npu
    python run_preprocess.py --dataset=stdn --input_dir=/data/stdn_data --output_dir=prepared/stdn \
        --stdn_spoof_type=print
    python run_preprocess.py --dataset=folder --input_dir=my_videos --output_dir=prepared/mine
    python run_preprocess.py --dataset=wmca --input_dir=/data/WMCA --output_dir=prepared/wmca   # RGB + sensor depth

Re-running with the same output_dir resumes (videos already in index.csv are skipped). The exit status is
non-zero when any video failed or the run was interrupted.
"""
import sys

from absl import app, flags

from physstd import cli
from physstd.data import cefa, spoof_types, wmca
from physstd.data.datasets import DATASETS, OLD_NAMES, canonical_name
from physstd.data.prepared import DatasetWriter, PreparedFormatError
from physstd.data.preprocess import DETECT_MAX_SIDE, InputError, dataset_jobs, folder_jobs, preprocess_videos
from physstd.data.stdn_import import stdn_jobs

FLAGS = flags.FLAGS
flags.DEFINE_string("input_dir", None, "Raw dataset root (as the dataset ships it) or folder to import.")
flags.DEFINE_string("output_dir", None, "Prepared dataset root to write (or resume).")
flags.DEFINE_enum("dataset", None, DATASETS + ("stdn", "folder", "synthetic") + tuple(OLD_NAMES),
                  "oulu_npu/siw/siw_m/casia_fasd/replay_attack/msu_mfsd: official file names "
                  "(physstd.data.datasets; the old spellings oulu/siwm/casia/replay/msu are accepted with a note); "
                  "wmca, cefa: RGB with sensor depth (physstd.data.wmca, physstd.data.cefa); "
                  "stdn: the ECCV20 STDN layout {live,spoof}/<video>/<frame>.png + <frame>.npy; folder: "
                  "<spoof type>/<video file or frame folder>; synthetic: the generated default set "
                  "(physstd.data.synthetic).")
flags.DEFINE_integer("image_size", 256, "Crop size N (multiple of 8); the depth map is N/8.", lower_bound=16)
flags.DEFINE_integer("every_k", 1, "Keep every k-th frame of each video.", lower_bound=1)
flags.DEFINE_integer("max_frames_per_video", None, "Keep at most this many (sampled) frames per video.",
                     lower_bound=1)
flags.DEFINE_integer("workers", 1, "Processes preparing videos in parallel.", lower_bound=1)
flags.DEFINE_integer("detect_max_side", DETECT_MAX_SIDE, "Face detection runs on frames downscaled to this "
                     "longer side (landmarks use full resolution).", lower_bound=64)
flags.DEFINE_enum("stdn_spoof_type", "print", spoof_types.NAMES[1:],
                  "--dataset=stdn: spoof type of every spoof/ video (the STDN layout does not record it); "
                  "it selects the preliminary mask P0.")
flags.DEFINE_integer("seed", 0, "--dataset=synthetic: seed of the generated set.")
flags.DEFINE_string("wmca_calibration", None, "--dataset=wmca, raw recordings: the SR300 depth-to-colour calibration "
                    "JSON (docs/data.md) that registers depth frames of another size than the colour frames.")
flags.mark_flags_as_required(["dataset", "output_dir"])
cli.register_ranges({"seed": cli.Range(0, 2 ** 32 - 1)})   # the other numeric flags have their lower_bound


def main(argv):
    del argv
    dataset = canonical_name(FLAGS.dataset)
    if dataset == "synthetic":
        # --input_dir: a raw synthetic set (physstd.data.synthetic) to prepare; without it the default set is
        # generated, raw frames under <output_dir>/raw. Either way the frames go through FacePreprocessor.
        from physstd.data.synthetic import write_synthetic_dataset
        summary = write_synthetic_dataset(FLAGS.output_dir, image_size=FLAGS.image_size, seed=FLAGS.seed,
                                          input_dir=FLAGS.input_dir, workers=FLAGS.workers,
                                          detect_max_side=FLAGS.detect_max_side)
        print(summary.format())
        return 0 if summary.ok else 1
    if not FLAGS.input_dir:
        raise app.UsageError(f"--input_dir is required for --dataset={dataset}")
    try:
        depth_units = None   # "mm" or "uint8" for the sets whose frames come with sensor depth
        if dataset == "stdn":
            jobs, failures = stdn_jobs(FLAGS.input_dir, FLAGS.stdn_spoof_type)
        elif dataset == "folder":
            jobs, failures = folder_jobs(FLAGS.input_dir)
        elif dataset == "wmca":
            jobs, failures = wmca.wmca_jobs(FLAGS.input_dir, FLAGS.wmca_calibration)
            depth_units = wmca.release_layout(FLAGS.input_dir).depth_units
        elif dataset == "cefa":
            jobs, failures = cefa.cefa_jobs(FLAGS.input_dir)
            depth_units = cefa.DEPTH_UNITS
        else:
            jobs, failures = dataset_jobs(FLAGS.input_dir, dataset)
        options = {"depth_units": depth_units} if depth_units else {}
        writer = DatasetWriter(FLAGS.output_dir, dataset, FLAGS.image_size, input_dir=FLAGS.input_dir, **options)
    except (InputError, PreparedFormatError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    summary = preprocess_videos(jobs, writer, FLAGS.every_k, FLAGS.max_frames_per_video, FLAGS.workers,
                                failures, detect_max_side=FLAGS.detect_max_side)
    print(summary.format())
    if summary.interrupted:
        return 130
    return 0 if summary.ok else 1


if __name__ == "__main__":
    cli.run(main)
