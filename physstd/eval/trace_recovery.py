"""Trace recovery: how well a method's estimated spoof trace matches the true one of the synthetic set.

Only the embedded synthetic set (physstd.data.synthetic) knows the true additive trace T_A = S - L and the true
inpainting region of every spoof frame (truth.npz); real data have neither. A method is scored through one small
interface, `TraceModel`: a function from images to (additive trace in image space, inpainting region or None).
PhySTD's generator is one implementation (`physstd_trace_model`: T_A = [B]n1 + [C]n2 + T of Eq. 5 and its P);
another trace model (for example De-Spoof's noise) plugs in the same way and is scored by the same code.

Measured on the spoof frames of a split, outside the true inpainting region (where the spoof replaced the face,
no additive trace exists): Pearson correlation between the recovered and the true T_A, pooled over pixels,
channels and frames of a type, overall and per band of Eq. 9 (low [x]n1 / mid [x]n2 - [x]n1 / high x - [x]n2);
PSNR of the recovered trace against the true one with peak 1 (that is, the PSNR of I - T_A against the true live
face on those pixels), next to the PSNR of leaving the trace in (T_A = 0); the same correlation with each frame's
recovered trace paired with another video's true trace of the same type (what a model that only knows the
medium's typical trace scores); and, for the types that have one, the agreement (IoU, precision, recall) of the
estimated region with the true one. The pixels of a video are not independent samples, its videos are: per type,
the test videos whose recovered trace correlates positively with the true one, and those that correlate better
with their own true trace than with another video's, each with a one-sided sign test (video_statistics).

    python -m physstd.eval.trace_recovery --run_dir=runs/<name> [--data_root=... --split_dir=... --protocol=...
        --fold=... --split=test --output_dir=... --batch_size=32]

data_root, split_dir, protocol and fold default to the run's own (flags.json). Writes, atomically,
<output_dir>/trace_recovery.json (RECORD_FORMAT_VERSION: run_dir, data_root, split_dir, protocol, fold, split,
types: {spoof type: metrics} plus 'all spoof types', whole_face: whole_face_recovery) and trace_recovery.md (the
same as tables); default output_dir <run_dir>/eval/trace_recovery. Exit status 0; 2 with one `error:` line for a
bad input (no run directory, unknown protocol or split, a spoof video without truth.npz).
"""
import argparse
import os
import sys
import typing

import numpy as np

from physstd import files

BANDS = ("low", "mid", "high")   # the bands of Eq. 9 at the model's n1, n2: [x]n1, [x]n2 - [x]n1, x - [x]n2
MASK_THRESHOLD = 0.5             # a pixel is in the (true or estimated) inpainting region when P > 0.5
# The report names the spoof types whose recovered T_A correlates positively with the true one in more test
# videos than chance allows (one-sided sign test over the videos at this level), and those whose videos
# correlate better with their own true trace than with another video's (the trace follows the frame).
SIGNIFICANCE = 0.01
ALL_TYPES = "all spoof types"
RECORD_FORMAT_VERSION = 1


PHYSTD_TRACE_NAME = "Recovered T_A = [B]n1 + [C]n2 + T"


class TraceModel(typing.NamedTuple):
    """A method's trace estimate, as trace recovery scores it.

    estimate: images (B, N, N, 3) float32 in [0, 1] -> (additive_trace, region): additive_trace (B, N, N, 3) is
        what the method says the spoof added to the live face, in image space (live = image - trace outside the
        region); region (B, N, N, 1) in [0, 1] is where it says the spoof replaced the face, or None for a
        method without one. Tensors or arrays.
    image_size: N of the images it takes (the data must be prepared at that size).
    bands: (n1, n2) of the Eq. 9 split at which the per-band correlations are taken.
    name: what the recovered trace is, for the report's first sentence.
    """
    estimate: typing.Callable
    image_size: int
    bands: tuple
    name: str = PHYSTD_TRACE_NAME


def physstd_trace_model(generator, model_config):
    """PhySTD's TraceModel: T_A = [B]n1 + [C]n2 + T (Eq. 5) and the inpainting region P of the generator."""
    import tensorflow as tf

    from physstd import trace

    @tf.function(autograph=False, reduce_retracing=True)
    def estimate(images):
        out = generator(images, training=False)
        return trace.additive_trace(out, model_config), out.P

    return TraceModel(estimate, model_config.image_size, tuple(model_config.trace_bands))


def recovery_of_run(run_dir, data_root="", split_dir="", protocol="", split="test", fold="", batch_size=32):
    """(recovery_on_split of a run directory on a split, {data_root, split_dir, protocol, fold, split}).

    The run's method (flags.json; PhySTD when it names none) gives the TraceModel; a method without an additive
    trace is refused. data_root, split_dir, protocol and fold default to the run's own (flags.json)."""
    from physstd import methods, runs
    from physstd.data import protocols

    method = methods.of_run(run_dir)
    flags = runs.read_run_flags(run_dir)["train"]
    data_root = data_root or flags.get("data_root", "")
    protocol = protocol or flags.get("protocol", "")
    if not data_root or not protocol:
        raise ValueError(f"{run_dir}: its flags.json names no dataset or protocol; pass --data_root and --protocol")
    split_dir = split_dir or flags.get("split_dir") or os.path.join(data_root, "protocols")
    fold = fold or flags.get("fold") or None
    video_ids = protocols.load_split(split_dir, protocol, split, fold)
    trace_model = method.trace_model(method.load(run_dir))
    if trace_model is None:
        raise ValueError(f"{run_dir}: method {method.name!r} estimates no additive spoof trace; trace recovery "
                         f"scores methods that do")
    result = recovery_on_split(trace_model, data_root, video_ids, batch_size)
    return result, {"data_root": os.path.abspath(data_root), "split_dir": os.path.abspath(split_dir),
                    "protocol": protocol, "fold": fold, "split": split, "trace": trace_model.name}


def recovery_on_split(trace_model, data_root, video_ids, batch_size=32):
    """{spoof type: metrics} on the spoof frames of video_ids (module doc), plus ALL_TYPES.

    trace_model: a TraceModel. Metrics of a type: frames, pixels, correlation, psnr, psnr_without_removal
    (recovery_metrics); `other_video_correlation`: the same Pearson correlation with each frame's recovered T_A
    paired with the true T_A of the last frame of another video of the same type (pixels outside both true
    inpainting regions; None for a type with one video). A model that outputs each medium's typical trace scores
    as high there as on the right pairs; the gap between the two is what follows the frame itself. `bands`:
    {low, mid, high: correlation of that band of the recovered T_A with the same band of the true one} (both
    traces zeroed inside the true inpainting region before the split, so that region does not leak into the
    kept pixels) and `band_energy`: {low, mid, high: the share of the true trace's energy in that band};
    `videos`: video_statistics; for types with a true inpainting region, when the model estimates one, also
    `mask`: {frames, iou, precision, recall} of the estimated region against the true one (each thresholded at
    MASK_THRESHOLD, pooled over the type's frames).
    """
    import tensorflow as tf

    from physstd import ops
    from physstd.data import pipeline, spoof_types

    n1, n2 = trace_model.bands
    sums, band_sums, mask_sums, other_sums = {}, {}, {}, {}
    video_sums, video_other_sums = {}, {}   # (type, video id): the sums of that video's frames
    # Per type: (video id, last frame's true T_A and kept pixels) of the current video and of the one before.
    last_frame, previous_video = {}, {}

    @tf.function(autograph=False, reduce_retracing=True)
    def split_bands(predicted, true):
        # (3 bands, 2 = recovered / true, batch, N, N, 3)
        return tf.stack([tf.stack(pair) for pair in zip(ops.decompose(predicted, n1, n2),
                                                        ops.decompose(true, n1, n2))])

    for batch in pipeline.eval_dataset(data_root, video_ids, trace_model.image_size, batch_size,
                                       include_truth=True):
        spoof = batch["label"].numpy() == 1
        if not spoof.any():
            continue
        true_mask = batch["true_mask"].numpy()[spoof]
        keep = (true_mask == 0).astype(np.float32)
        true = batch["true_trace"].numpy()[spoof]
        predicted, mask = trace_model.estimate(tf.constant(batch["image"].numpy()[spoof]))
        predicted = np.asarray(predicted, np.float32)
        bands = split_bands(tf.constant(keep * predicted), tf.constant(keep * true)).numpy().astype(np.float64)
        predicted = predicted.astype(np.float64)
        mask = None if mask is None else np.asarray(mask)
        kept = np.broadcast_to(keep > 0, true.shape)
        videos = batch["video_id"].numpy()[spoof]
        for k, type_id in enumerate(batch["spoof_type"].numpy()[spoof]):
            name = spoof_types.NAMES[type_id]
            if name in last_frame and last_frame[name][0] != videos[k]:
                previous_video[name] = last_frame[name]
            last_frame[name] = (videos[k], true[k], kept[k])
            matched = predicted[k][kept[k]], true[k][kept[k]]
            other = previous_video.get(name)
            if other is not None:
                both = kept[k] & other[2]
                other = predicted[k][both], other[1][both]
            accumulate_recovery(video_sums.setdefault((name, videos[k]), np.zeros(8)), *matched)
            if other is not None:
                accumulate_recovery(video_other_sums.setdefault((name, videos[k]), np.zeros(8)), *other)
            for key in (name, ALL_TYPES):
                accumulate_recovery(sums.setdefault(key, np.zeros(8)), *matched)
                if other is not None:
                    accumulate_recovery(other_sums.setdefault(key, np.zeros(8)), *other)
                for b, band in enumerate(BANDS):
                    accumulate_recovery(band_sums.setdefault((key, band), np.zeros(8)),
                                        bands[b, 0, k][kept[k]], bands[b, 1, k][kept[k]])
            if mask is not None and true_mask[k].any():
                accumulate_mask(mask_sums.setdefault(name, np.zeros(4)), mask[k] > MASK_THRESHOLD,
                                true_mask[k] > MASK_THRESHOLD)
    if not sums:
        raise ValueError(f"{data_root}: no spoof frame among the {len(video_ids)} videos evaluated")
    order = [name for name in spoof_types.NAMES if name in sums] + [ALL_TYPES]
    result = {}
    for name in order:
        result[name] = recovery_metrics(sums[name])
        result[name]["other_video_correlation"] = (
            recovery_metrics(other_sums[name])["correlation"] if name in other_sums else None)  # one video only
        result[name]["bands"] = {band: recovery_metrics(band_sums[name, band])["correlation"] for band in BANDS}
        # Share of the true trace's energy in each band (element 5 of the sums: sum of true squared).
        total = max(sums[name][5], 1e-20)
        result[name]["band_energy"] = {band: float(band_sums[name, band][5] / total) for band in BANDS}
        if name in mask_sums:
            result[name]["mask"] = mask_metrics(mask_sums[name])
        keys = [key for key in video_sums if name in (key[0], ALL_TYPES)]
        result[name]["videos"] = video_statistics(
            [recovery_metrics(video_sums[key])["correlation"] for key in keys],
            [recovery_metrics(video_other_sums[key])["correlation"] if key in video_other_sums else None
             for key in keys])
    return result


# --- statistics ---------------------------------------------------------------------------------------------------
def video_statistics(correlations, other_correlations):
    """Per-video view of trace recovery: the test *videos* are the independent samples, not the pixels.

    correlations: each video's correlation (its frames pooled); other_correlations: the same video's
    other-video correlation, or None where it has none (the first video of its type). Returns {videos,
    positive: how many correlate positively, sign_p: one-sided sign test of "positive more often than not"
    (binomial, p = 1/2), median, paired: videos with an other-video figure, beats_other: how many of those
    correlate better with their own true trace than with the other video's, paired_sign_p: the sign test of that}.
    """
    correlations = np.asarray(correlations, np.float64)
    positive = int((correlations > 0).sum())
    pairs = [(c, o) for c, o in zip(correlations, other_correlations) if o is not None]
    beats = int(sum(c > o for c, o in pairs))
    return {"videos": len(correlations), "positive": positive, "sign_p": sign_test(positive, len(correlations)),
            "median": float(np.median(correlations)) if len(correlations) else 0.0,
            "paired": len(pairs), "beats_other": beats, "paired_sign_p": sign_test(beats, len(pairs))}


def sign_test(successes, trials):
    """One-sided sign test: P(X >= successes) for X ~ Binomial(trials, 1/2); 1 when there are no trials."""
    from scipy import stats

    return float(stats.binomtest(successes, trials, 0.5, alternative="greater").pvalue) if trials else 1.0


def whole_face_recovery(result):
    """The per-video counts of the spoof types whose trace covers the whole face (P0 region 'whole': print and
    replay), pooled: {types, videos, positive, sign_p}, or None when the result has none.

    These are the additive attacks the synthetic set spreads over the whole frame (the demo's recovery check);
    the local ones (mask edges, makeup, the shadow beside a partial attack) are reported but not pooled here,
    since at the demo's scale even a generator trained on the true traces barely recovers them
    (benchmarks/trace_ceiling.py, README)."""
    from physstd.data import spoof_types

    names = [name for name in result if name in spoof_types.BY_NAME and spoof_types.BY_NAME[name].p0_region == "whole"]
    if not names:
        return None
    videos = sum(result[name]["videos"]["videos"] for name in names)
    positive = sum(result[name]["videos"]["positive"] for name in names)
    return {"types": names, "videos": videos, "positive": positive, "sign_p": sign_test(positive, videos)}


def accumulate_recovery(sums, predicted, true):
    """Add one frame's recovered and true trace values (1-D, same pixels) to the running sums (8,)."""
    p, t = np.asarray(predicted, np.float64), np.asarray(true, np.float64)
    sums += [1, p.size, p.sum(), t.sum(), (p * p).sum(), (t * t).sum(), (p * t).sum(), ((p - t) ** 2).sum()]


def recovery_metrics(sums):
    """{frames, pixels, correlation (Pearson), psnr (recovered vs true, peak 1), psnr_without_removal (T_A = 0)}
    from the sums of accumulate_recovery."""
    frames, count, sp, st, spp, stt, spt, sdd = sums
    covariance = spt / count - (sp / count) * (st / count)
    spread = np.sqrt(max(spp / count - (sp / count) ** 2, 0.0) * max(stt / count - (st / count) ** 2, 0.0))
    return {"frames": int(frames), "pixels": int(count),
            "correlation": float(covariance / spread) if spread > 0 else 0.0,
            "psnr": float(10 * np.log10(count / max(sdd, 1e-20))),
            "psnr_without_removal": float(10 * np.log10(count / max(stt, 1e-20)))}


def accumulate_mask(sums, estimated, true):
    """Add one frame's boolean estimated and true inpainting regions to the sums (frames, both, estimated, true)."""
    estimated, true = np.asarray(estimated, bool), np.asarray(true, bool)
    sums += [1, (estimated & true).sum(), estimated.sum(), true.sum()]


def mask_metrics(sums):
    """{frames, iou, precision, recall} of the estimated inpainting region from the sums of accumulate_mask."""
    frames, both, estimated, true = sums
    union = estimated + true - both
    return {"frames": int(frames), "iou": float(both / union) if union else 0.0,
            "precision": float(both / estimated) if estimated else 0.0,
            "recall": float(both / true) if true else 0.0}


# --- report -------------------------------------------------------------------------------------------------------
def format_correlation(value):
    """A correlation to three decimals; "-" for None (a type with one video has no other-video pairing)."""
    return "-" if value is None else f"{value:.3f}"


def recovery_report(recovery, split="test", trace_name=PHYSTD_TRACE_NAME):
    """Markdown lines of a recovery_on_split result on `split` (the demo's report.md section, trace_recovery.md);
    trace_name: the TraceModel's name of the recovered trace."""
    lines = [f"## Trace recovery on the {split} spoofs (outside the true inpainting region)", "",
             f"{trace_name} against the true T_A = S - L of the synthetic set. Correlation: "
             "Pearson over the pixels, channels and frames of a type; per band: the same after splitting both "
             "traces into the bands of Eq. 9 (low = [x]n1, mid = [x]n2 - [x]n1, high = x - [x]n2). PSNR: of the "
             "recovered trace against the true one (peak 1), next to leaving the trace in (T_A = 0). Other video: "
             "the same correlation with each frame's recovered trace paired with the true trace of a frame of "
             "another video of the same type; a generator that only knows each medium's typical trace scores as "
             "high there, so the gap between the two columns is what follows the frame itself.", "",
             "Videos: the test videos are the independent samples, not the pixels. Per video, the same correlation "
             "over its frames; 'r > 0' counts the videos that correlate positively, with the one-sided sign-test p; "
             "'beats other' counts those that correlate better with their own true trace than with the other "
             "video's, with its sign-test p.", "",
             "| spoof type | frames | correlation | other video | low | mid | high | true energy low / mid / high (%) "
             "| PSNR (dB) | PSNR if left in (dB) | videos r > 0 (p) | beats other (p) |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for name, values in recovery.items():
        bands = " | ".join(f"{values['bands'][band]:.3f}" for band in BANDS)
        energy = " / ".join(f"{100 * values['band_energy'][band]:.0f}" for band in BANDS)
        videos = values["videos"]
        lines.append(f"| {name} | {values['frames']} | {values['correlation']:.3f} | "
                     f"{format_correlation(values['other_video_correlation'])} | {bands} | {energy} | "
                     f"{values['psnr']:.1f} | {values['psnr_without_removal']:.1f} | "
                     f"{videos['positive']}/{videos['videos']} ({videos['sign_p']:.2g}) | "
                     f"{videos['beats_other']}/{videos['paired']} ({videos['paired_sign_p']:.2g}) |")
    per_type = {k: v for k, v in recovery.items() if k != ALL_TYPES}
    good = [k for k, v in per_type.items() if v["videos"]["sign_p"] < SIGNIFICANCE]
    specific = [k for k, v in per_type.items() if v["videos"]["paired_sign_p"] < SIGNIFICANCE]
    better = [k for k, v in per_type.items() if v["psnr"] > v["psnr_without_removal"]]
    lines += ["", f"Types whose recovered trace correlates with the true one (positive in more test videos than "
              f"chance, sign test p < {SIGNIFICANCE}): {', '.join(good) or 'none'} of {len(per_type)}. Types whose "
              f"videos correlate better with their own true trace than with another video's (p < {SIGNIFICANCE}: "
              f"the trace follows the frame, not only the medium): {', '.join(specific) or 'none'}. Types where "
              f"removing the recovered trace brings the frame closer to the true live face (higher PSNR): "
              f"{', '.join(better) or 'none'}. The pooled row mixes types, so it also credits traces whose overall "
              "strength follows the type's; read the per-type rows for the spatial agreement.", ""]
    masked = {k: v["mask"] for k, v in per_type.items() if "mask" in v}
    if masked:
        lines += ["Partial attacks leave almost no additive trace outside their inpainting region (a shadow at most), "
                  "so their correlation measures little; their trace is the region itself:", "",
                  f"| spoof type | frames | IoU of P > {MASK_THRESHOLD} with the true region | precision | recall |",
                  "|---|---:|---:|---:|---:|"]
        lines += [f"| {name} | {m['frames']} | {m['iou']:.3f} | {m['precision']:.3f} | {m['recall']:.3f} |"
                  for name, m in masked.items()]
        lines.append("")
    return lines


def write_outputs(output_dir, run_dir, result, where):
    """trace_recovery.json (the record of the module doc) and trace_recovery.md in output_dir, each written
    atomically; returns their paths."""
    whole = whole_face_recovery(result)
    record = {"format_version": RECORD_FORMAT_VERSION, "run_dir": os.path.abspath(run_dir), **where,
              "types": result, "whole_face": whole}
    lines = [f"# Trace recovery of `{record['run_dir']}`", "",
             f"Split `{where['split']}` of protocol `{where['protocol']}`"
             + (f" fold `{where['fold']}`" if where["fold"] else "") + f" in `{where['data_root']}`.", ""]
    if whole is not None:
        lines += [f"Print and replay ({', '.join(whole['types'])}) pooled: {whole['positive']} of {whole['videos']} "
                  f"videos correlate positively (sign test p = {whole['sign_p']:.2g}).", ""]
    lines += recovery_report(result, where["split"], where.get("trace", PHYSTD_TRACE_NAME))
    os.makedirs(output_dir, exist_ok=True)
    paths = {"json": os.path.join(output_dir, "trace_recovery.json"),
             "markdown": os.path.join(output_dir, "trace_recovery.md")}
    files.write_json_atomic(paths["json"], record)
    files.write_text_atomic(paths["markdown"], "\n".join(lines))
    return paths


# --- entry point --------------------------------------------------------------------------------------------------
class _Parser(argparse.ArgumentParser):
    def error(self, message):
        """A bad command line: one `error:` line and exit status 2 (argparse would print the usage first)."""
        self.exit(2, f"error: {message}\n")


def main(argv=None):
    """`python -m physstd.eval.trace_recovery` (module doc); returns the exit status."""
    parser = _Parser(prog="python -m physstd.eval.trace_recovery", description=__doc__.split("\n\n")[0])
    parser.add_argument("--run_dir", default="",
                        help="a run directory (written by run_train.py) of a method with an additive trace")
    parser.add_argument("--data_root", default="", help="prepared synthetic set with truth.npz (default: the run's)")
    parser.add_argument("--split_dir", default="", help="protocol split lists (default: the run's, else "
                        "<data_root>/protocols)")
    parser.add_argument("--protocol", default="", help="protocol (default: the run's)")
    parser.add_argument("--fold", default="", help="fold of the protocol (default: the run's)")
    parser.add_argument("--split", default="test", help="subset whose spoof frames are scored (default test)")
    parser.add_argument("--output_dir", default="", help="default <run_dir>/eval/trace_recovery")
    parser.add_argument("--batch_size", type=int, default=32, help="frames per batch (default 32)")
    args = parser.parse_args(argv)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    try:
        if not args.run_dir:
            raise ValueError("--run_dir is required (a run directory written by run_train.py)")
        if args.batch_size < 1:
            raise ValueError(f"--batch_size must be at least 1; got {args.batch_size}")
        result, where = recovery_of_run(args.run_dir, args.data_root, args.split_dir, args.protocol, args.split,
                                        args.fold, args.batch_size)
        paths = write_outputs(args.output_dir or os.path.join(args.run_dir, "eval", "trace_recovery"),
                              args.run_dir, result, where)
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print("\n".join(recovery_report(result, args.split, where["trace"])))
    print(f"written {paths['json']} and {paths['markdown']}")
    return 0


if __name__ == "__main__":
    from physstd import cli   # a data error raised in a tf.data thread: one error line, the pipeline stopped first
    sys.exit(cli.guarded(main)(sys.argv[1:]))
