"""Import data prepared for the original STDN code (ECCV 2020, github.com/yaojieliu/ECCV20-STDN): frames of
cropped faces in `{live,spoof}/<video>/<frame>.png`, each with `<frame>.npy` holding its 68 (x, y) landmarks
in that image's pixels. `live/` and `spoof/` may sit at any depth (e.g. `train/live`, `val/spoof`).

No detection is run: each frame is re-cropped with physstd's crop rule from its own landmarks (border
replicated where the rule reaches past the STDN crop), so the prepared set matches one made from videos.
The STDN layout does not say which attack a spoof video is; `spoof_type` (one name for all spoof videos)
fixes it, and with it the preliminary mask P0.
"""
import os

from physstd.data import spoof_types
from physstd.data.prepared import DatasetWriter
from physstd.data.preprocess import (IMAGE_EXTENSIONS, InputError, VideoJob, add_unique_job, preprocess_videos,
                                     relative_posix)

STDN_FOLDERS = ("live", "spoof")


def stdn_jobs(input_dir, spoof_type="print"):
    """(jobs, failures) for every `<...>/{live,spoof}/<video>/` folder under input_dir.

    video_id: the path below input_dir with '/' replaced by '_' (e.g. train_live_1); subject: the video."""
    if spoof_type not in spoof_types.NAMES[1:]:
        raise ValueError(f"spoof_type {spoof_type!r} must be one of {', '.join(spoof_types.NAMES[1:])}")
    if not os.path.isdir(input_dir):
        raise InputError(f"{input_dir}: input folder does not exist")
    jobs, failures, seen = [], [], {}
    for directory, subdirs, _ in os.walk(input_dir):
        subdirs.sort()
        kind = os.path.basename(directory).lower()
        if kind not in STDN_FOLDERS:
            continue
        for name in list(subdirs):
            source = os.path.join(directory, name)
            path = relative_posix(source, input_dir)
            if not any(os.path.splitext(n)[1].lower() in IMAGE_EXTENSIONS for n in os.listdir(source)):
                failures.append((source, f"{source}: STDN video folder without frame images "
                                         f"({', '.join(IMAGE_EXTENSIONS)})"))
                continue
            video_id = path.replace("/", "_")
            record = {"video_id": video_id, "path": path, "label": int(kind == "spoof"),
                      "spoof_type": spoof_type if kind == "spoof" else "live", "subject": video_id,
                      "source_path": path}
            add_unique_job(jobs, failures, seen, VideoJob(source, record, landmark_files=True))
        subdirs[:] = []   # video folders hold frames, not further live/spoof trees
    if not jobs and not failures:
        failures.append((input_dir, f"{input_dir}: no live/ or spoof/ folders with video sub-folders "
                                    "(STDN layout {live,spoof}/<video>/<frame>.png + <frame>.npy)"))
    return jobs, failures


def import_stdn(input_dir, output_dir, image_size=256, spoof_type="print", every_k=1, max_frames=None,
                workers=1, **kwargs):
    """Write the prepared layout (dataset name 'stdn') from an STDN-layout folder; returns the run's Summary."""
    jobs, failures = stdn_jobs(input_dir, spoof_type)
    writer = DatasetWriter(output_dir, "stdn", image_size, input_dir=input_dir)
    return preprocess_videos(jobs, writer, every_k, max_frames, workers, failures, **kwargs)
