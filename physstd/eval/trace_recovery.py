"""Trace recovery: how well a method's estimated spoof trace matches the true one of the synthetic set, next to
predictors that never see the trace.

Only the embedded synthetic set (physstd.data.synthetic) knows the true additive trace T_A = S - L and the true
inpainting region of every spoof frame (truth.npz); real data have neither. A method is scored through one small
interface, `TraceModel` (physstd.methods.base): a function from images (with the frames' sensor depth, for a method
that takes it) to (trace in image space, inpainting region or None[, overall effect]). A method gives its own
(Method.trace_model): PhySTD's generator, De-Spoof's noise.

A recovered trace means something only next to what a predictor that never saw the trace scores with the same
code on the same frames. Every report carries these reference rows (`fit_references`, fitted on the *train*
split's spoof frames, scored on the evaluated split):
- zero: no trace (correlation 0 by definition; its PSNR is "leave the trace in");
- template: the per-type mean true trace of the train frames. It knows the medium, not the frame;
- colour map: per type, T = a + B I (12 parameters: a 3-vector and a 3 x 3 matrix) fitted by least squares on
  the train frames. It knows the medium's tone and colour response to the face in front of it;
- negated image: -I (a print's trace is close to a negative multiple of the image);
- a ceiling, where a run of a generator supervised on the true traces is given (`--reference_run`).

Measured on the spoof frames of a split, outside the true inpainting region (where the spoof replaced the face,
no additive trace exists): Pearson correlation between the recovered and the true T_A, pooled over pixels,
channels and frames of a type, overall and per band of Eq. 9 (low [x]n1 / mid [x]n2 - [x]n1 / high x - [x]n2);
PSNR of the recovered trace against the true one (peak 1), next to the PSNR of leaving the trace in; for the
types that have one, the agreement (IoU, precision, recall) of the estimated region with the true one. For
methods that reconstruct the live face, the overall effect I - I_hat (PhySTD: (1 - P) T_A + P (I - I_P), what its
losses constrain) is scored against the true effect I - L on every pixel. For a method with a sensor-depth trace
(the depth_trace of TraceModel.estimate) on an RGB-D synthetic set, its depth trace is scored against the true one: the
normalised spoof depth minus the normalised depth of the live twin under the same sensor draw (truth.npz's
sensor_depth_trace, in mm, taken off the stored crop), both through the network's normalisation
(physstd.ops.depth), Pearson over the pixels where both are measured (`depth_trace`: correlation and videos).

The frame test (`frame_test`). The test videos are the independent samples, not the pixels. Each video's own
correlation r(v, v) (its recovered traces against its true traces) is compared with its correlation r(v, u)
against the true trace of every other video u of its type (frame k of v paired with frame k mod F_u of u, pixels
outside both true regions). Its frame specificity is s(v) = r(v, v) - mean over u of r(v, u): how much better the
output fits this video than the other videos of the medium. A fixed per-type output scores s = 0 on average. A
trace *follows the frame* when its videos' s(v) exceeds the template's s(v) in more videos than chance allows
(one-sided sign test, p < SIGNIFICANCE); the report gives the mean excess over the template and over the colour
map too. Beating the template is not recovery of the trace itself: -I and the colour map also follow the frame,
through the face they see. Beating the colour map is the stronger claim.

    python -m physstd.eval.trace_recovery --run_dir=runs/<name> [--data_root=... --split_dir=... --protocol=...
        --fold=... --split=test --output_dir=... --batch_size=32 --reference_run=<supervised run>]

data_root, split_dir, protocol and fold default to the run's own (flags.json). Writes, atomically,
<output_dir>/trace_recovery.json (RECORD_FORMAT_VERSION: run_dir, data_root, split_dir, protocol, fold, split,
types: {spoof type: metrics} plus 'all spoof types', whole_face: whole_face_recovery) and trace_recovery.md (the
same as tables); default output_dir <run_dir>/eval/trace_recovery. All spoof frames of the split and of its train
split are held in memory (at N = 64 about 50 KB a frame and array). Exit status 0; 2 with one `error:` line for a
bad input (no run directory, unknown protocol or split, a spoof video without truth.npz).
"""
import argparse
import os
import sys
import typing

import numpy as np

from physstd import cli, files, methods, runs
from physstd.data import pipeline, prepared, protocols, spoof_types
from physstd.methods import base
from physstd.models.config import IMAGE_TRACE_NAME

BANDS = ("low", "mid", "high")   # the bands of Eq. 9 at the model's n1, n2: [x]n1, [x]n2 - [x]n1, x - [x]n2
MASK_THRESHOLD = 0.5             # a pixel is in the (true or estimated) inpainting region when P > 0.5
# Significance of the one-sided sign tests over videos: "correlates positively in more videos than chance" and
# "follows the frame" (beats the template's frame specificity in more videos than chance).
SIGNIFICANCE = 0.01
ALL_TYPES = "all spoof types"
RECORD_FORMAT_VERSION = 2
# The reference predictors, in report order (module doc). The template is the frame test's bar.
REFERENCES = ("zero", "template", "colour map", "negated image")
TEMPLATE, COLOUR_MAP = "template", "colour map"


# The trace name of a trace_recovery.json written before records named theirs (every such record scored PhySTD).
PHYSTD_TRACE_NAME = IMAGE_TRACE_NAME


class SpoofFrames(typing.NamedTuple):
    """Every spoof frame of a list of videos, in pipeline order: images, true traces (F, N, N, 3), true masks
    (F, N, N, 1) float32; types (F,) spoof-type names; videos (F,) video ids."""
    images: np.ndarray
    traces: np.ndarray
    masks: np.ndarray
    types: np.ndarray
    videos: np.ndarray


def load_spoof_frames(data_root, video_ids, image_size, batch_size=32):
    """SpoofFrames of the spoof videos among video_ids (their truth.npz through the tf.data pipeline)."""
    return load_spoof_inputs(data_root, video_ids, image_size, batch_size)[0]


def load_spoof_inputs(data_root, video_ids, image_size, batch_size=32, input_keys=("image",)):
    """(SpoofFrames, {input key: (F, ...) float32}) of the spoof videos among video_ids: the frames as
    load_spoof_frames gives them, and their model inputs beyond the image among `input_keys` (sensor depth)."""
    extra = [key for key in input_keys if key != "image"]
    parts = {key: [] for key in ["image", "true_trace", "true_mask", "spoof_type", "video_id", *extra]}
    for batch in pipeline.eval_dataset(data_root, video_ids, image_size, batch_size, include_truth=True,
                                       input_keys=input_keys):
        spoof = batch["label"].numpy() == 1
        for key in parts:
            parts[key].append(batch[key].numpy()[spoof])
    arrays = {key: np.concatenate(value) if value else np.zeros((0,)) for key, value in parts.items()}
    if not len(arrays["image"]):
        raise ValueError(f"{data_root}: no spoof frame among the {len(video_ids)} videos evaluated")
    names = np.array([spoof_types.NAMES[int(t)] for t in arrays["spoof_type"]])
    videos = np.array([v.decode() if isinstance(v, bytes) else str(v) for v in arrays["video_id"]])
    frames = SpoofFrames(arrays["image"].astype(np.float32), arrays["true_trace"].astype(np.float32),
                         arrays["true_mask"].astype(np.float32), names, videos)
    return frames, {key: arrays[key].astype(np.float32) for key in extra}


# --- reference predictors -----------------------------------------------------------------------------------------
def fit_references(train):
    """{name: predict(images, types) -> traces} for REFERENCES, fitted on the SpoofFrames `train` (module doc).

    template: per type and pixel, the mean true trace over the train frames where that pixel is outside the true
    region (0 where it never is); colour map: per type, least squares of the true trace on [1, R, G, B] over
    every kept pixel of the train frames. A type absent from train predicts zero."""
    keep = (train.masks == 0).astype(np.float64)
    templates, maps = {}, {}
    for name in np.unique(train.types):
        rows = train.types == name
        weight = keep[rows].sum(axis=0)
        templates[name] = np.where(weight > 0, (keep[rows] * train.traces[rows]).sum(axis=0)
                                   / np.maximum(weight, 1), 0).astype(np.float32)
        kept = np.broadcast_to(keep[rows] > 0, train.images[rows].shape)[..., 0]
        design = np.concatenate([np.ones((int(kept.sum()), 1)), train.images[rows][kept].astype(np.float64)], 1)
        maps[name] = np.linalg.lstsq(design, train.traces[rows][kept].astype(np.float64), rcond=None)[0]

    def by_type(table, predict_one):
        def predict(images, types):
            out = np.zeros(images.shape, np.float32)
            for name in np.unique(types):
                if name in table:
                    out[types == name] = predict_one(table[name], images[types == name])
            return out
        return predict

    return {"zero": lambda images, types: np.zeros(images.shape, np.float32),
            TEMPLATE: by_type(templates, lambda template, images: template),
            COLOUR_MAP: by_type(maps, lambda coef, images: (coef[0] + images.astype(np.float64) @ coef[1:])),
            "negated image": lambda images, types: -images.astype(np.float32)}


def predict_frames(trace_model, frames, batch_size=32, inputs=None):
    """(traces, regions or None, effects or None, depth traces or None) of a TraceModel on every frame of a
    SpoofFrames, as arrays, from one pass of its estimate. inputs: the frames' inputs beyond the image
    (load_spoof_inputs), for a model that takes them."""
    import tensorflow as tf

    parts = ([], [], [], [])   # trace, region, effect, depth trace (TraceModel.estimate)
    for start in range(0, len(frames.images), batch_size):
        part = slice(start, start + batch_size)
        batch = {key: tf.constant(values[part]) for key, values in dict(inputs or {}, image=frames.images).items()
                 if key in trace_model.input_keys}
        out = tuple(trace_model.estimate(base.model_inputs(trace_model.input_keys, batch)))
        for collected, value in zip(parts, out + (None,) * (len(parts) - len(out))):
            collected.append(None if value is None else np.asarray(value, np.float32))
    return tuple(None if collected[0] is None else np.concatenate(collected) for collected in parts)


# --- scoring ------------------------------------------------------------------------------------------------------
def recovery_of_run(run_dir, data_root="", split_dir="", protocol="", split="test", fold="", batch_size=32,
                    reference_runs=()):
    """(recovery_on_split of a run directory on a split, {data_root, split_dir, protocol, fold, split, trace}).

    The run's method (flags.json; PhySTD when it names none) gives the TraceModel; a method without an additive
    trace is refused. data_root, split_dir, protocol and fold default to the run's own (flags.json). The
    reference predictors are fitted on the protocol's train split; reference_runs (other run directories, e.g.
    a supervised ceiling) are scored as extra reference rows named after their folder."""
    flags = runs.read_run_flags(run_dir)["train"]
    data_root = data_root or flags.get("data_root", "")
    protocol = protocol or flags.get("protocol", "")
    if not data_root or not protocol:
        raise ValueError(f"{run_dir}: its flags.json names no dataset or protocol; pass --data_root and --protocol")
    split_dir = split_dir or flags.get("split_dir") or os.path.join(data_root, "protocols")
    fold = fold or flags.get("fold") or None
    protocols.check_identities(split_dir, protocol, fold, data_root)   # and load_split: no leaked video
    video_ids = protocols.load_split(split_dir, protocol, split, fold)
    train_ids = protocols.load_split(split_dir, protocol, "train", fold)
    trace_model = _trace_model_of(run_dir)
    extra = {os.path.basename(os.path.normpath(path)): _trace_model_of(path) for path in reference_runs}
    result = recovery_on_split(trace_model, data_root, video_ids, batch_size, train_ids, extra)
    return result, {"data_root": os.path.abspath(data_root), "split_dir": os.path.abspath(split_dir),
                    "protocol": protocol, "fold": fold, "split": split, "trace": trace_model.name}


def _trace_model_of(run_dir):
    method = methods.of_run(run_dir)
    trace_model = method.trace_model(method.load(run_dir))
    if trace_model is None:
        raise ValueError(f"{run_dir}: method {method.name!r} estimates no additive spoof trace; trace recovery "
                         f"scores methods that do")
    return trace_model


def recovery_on_split(trace_model, data_root, video_ids, batch_size=32, train_ids=None, reference_models=None):
    """{spoof type: metrics} on the spoof frames of video_ids (module doc), plus ALL_TYPES.

    trace_model: a TraceModel. train_ids: the videos the reference predictors are fitted on (None: no reference
    rows and no frame test against them). reference_models: {name: TraceModel} scored as extra reference rows.
    Metrics of a type (frame_metrics): frames, pixels, correlation, psnr, psnr_without_removal, bands,
    band_energy, videos (video_statistics), specificity (mean s(v)), mask (types with a true region, methods with
    an estimated one), effect (methods with an overall effect: its correlation with the true effect over every
    pixel, and its video statistics); with references also `references`: {name: {correlation, specificity,
    psnr}} and `frame_test` (frame_test)."""
    models = [trace_model, *(reference_models or {}).values()]
    keys = tuple(key for key in pipeline.INPUT_KEYS if any(key in model.input_keys for model in models))
    frames, inputs = load_spoof_inputs(data_root, video_ids, trace_model.image_size, batch_size, keys)
    traces, regions, effects, depths = predict_frames(trace_model, frames, batch_size, inputs)
    result = frame_metrics(frames, traces, regions, effects, trace_model.bands)
    if depths is not None:
        truth = true_depth_traces(data_root, frames, trace_model.image_size)
        if truth is not None:
            depth_metrics(result, frames, depths, *truth)
    if train_ids is None:
        return result
    references = fit_references(load_spoof_frames(data_root, train_ids, trace_model.image_size, batch_size))
    scored = {name: frame_metrics(frames, predict(frames.images, frames.types))
              for name, predict in references.items()}
    for name, model in (reference_models or {}).items():
        scored[name] = frame_metrics(frames, predict_frames(model, frames, batch_size, inputs)[0])
    for name, values in result.items():
        values["references"] = {ref: {key: scored[ref][name][key] for key in ("correlation", "specificity", "psnr")}
                                for ref in scored}
        values["frame_test"] = frame_test(values["per_video"],
                                          {ref: scored[ref][name]["per_video"] for ref in (TEMPLATE, COLOUR_MAP)})
    return result


def frame_metrics(frames, traces, regions=None, effects=None, bands=None):
    """{type: metrics} (recovery_on_split) of predicted traces (F, N, N, 3) on SpoofFrames, plus ALL_TYPES.
    bands: (n1, n2) for the per-band correlations (None: not computed). Each type also keeps `per_video`:
    {video: (own correlation r(v, v), specificity s(v))}, the input of frame_test."""
    keep = np.broadcast_to(frames.masks == 0, frames.traces.shape)
    split = None if bands is None else _band_split(traces * keep, frames.traces * keep, bands)
    types = _type_order(frames.types)
    videos_of = {name: _video_specificity(frames, traces, keep, name) for name in types}
    result = {}
    for name in types + [ALL_TYPES]:
        rows = np.ones(len(frames.types), bool) if name == ALL_TYPES else frames.types == name
        values = recovery_metrics(_sums(traces[rows], frames.traces[rows], keep[rows]))
        if split is not None:
            values["bands"] = {band: recovery_metrics(_sums(split[b][0][rows], split[b][1][rows], keep[rows]))
                               ["correlation"] for b, band in enumerate(BANDS)}
            total = max(_sums(frames.traces[rows], frames.traces[rows], keep[rows])[5], 1e-20)
            values["band_energy"] = {band: float(_sums(split[b][1][rows], split[b][1][rows], keep[rows])[5] / total)
                                     for b, band in enumerate(BANDS)}
        per_video = videos_of[name] if name != ALL_TYPES else {
            video: pair for type_name in types for video, pair in videos_of[type_name].items()}
        values["per_video"] = per_video
        values["videos"] = video_statistics([own for own, _ in per_video.values()])
        specific = [s for _, s in per_video.values() if s is not None]
        values["specificity"] = float(np.mean(specific)) if specific else None
        if regions is not None and (frames.masks[rows] > MASK_THRESHOLD).any() and name != ALL_TYPES:
            mask_sums = np.zeros(4)
            for k in np.flatnonzero(rows):
                accumulate_mask(mask_sums, regions[k] > MASK_THRESHOLD, frames.masks[k] > MASK_THRESHOLD)
            values["mask"] = mask_metrics(mask_sums)
        if effects is not None:
            everywhere = np.ones(frames.traces.shape, bool)
            own = [recovery_metrics(_sums(effects[sel], frames.traces[sel], everywhere[sel]))["correlation"]
                   for sel in (rows & (frames.videos == v) for v in _unique(frames.videos[rows]))]
            values["effect"] = {"correlation": recovery_metrics(_sums(effects[rows], frames.traces[rows],
                                                                      everywhere[rows]))["correlation"],
                                "videos": video_statistics(own)}
        result[name] = values
    return result


def true_depth_traces(data_root, frames, image_size):
    """(true depth traces (F, N, N, 1), measured (F, N, N, 1) bool) of SpoofFrames in the network's normalised
    depth (module doc), or None when the set's truth holds no depth trace. Frames of a video are its kept frames in
    order (as load_spoof_inputs gives them)."""
    import tensorflow as tf

    from physstd.ops import depth as depth_ops   # TensorFlow: this module stays free of it until depth is scored

    dataset = prepared.PreparedDataset(data_root)
    units = pipeline.sensor_depth_units(dataset.meta, data_root, pipeline.INPUT_KEYS)
    traces, measured = [], []
    for video in _unique(frames.videos):
        truth = dataset.load_truth(video)
        if truth is None or "sensor_depth_trace" not in truth:
            return None
        count = int((frames.videos == video).sum())
        raw = np.stack([pipeline.read_depth_frame(
            os.path.join(dataset.video_dir(video), pipeline.SENSOR_DEPTH, prepared.frame_filename(k)), units,
            (image_size, image_size)).astype(np.float32) for k in range(count)])[..., None]
        both = truth["sensor_depth_measured"][:count, ..., None] > 0
        twin = np.where(both, raw - truth["sensor_depth_trace"][:count, ..., None], 0.0)
        normalised = [depth_ops.normalise_sensor_depth(tf.constant(x), units).numpy() for x in (raw, twin)]
        traces.append(normalised[0] - normalised[1])
        measured.append(both)
    return np.concatenate(traces), np.concatenate(measured)


def depth_metrics(result, frames, predicted, true, measured):
    """Add `depth_trace` {correlation, videos} to each type of a frame_metrics result: the predicted depth traces
    (F, N, N, 1) against the true ones on the measured pixels."""
    for name, values in result.items():
        rows = np.ones(len(frames.types), bool) if name == ALL_TYPES else frames.types == name
        own = [recovery_metrics(_sums(predicted[sel], true[sel], measured[sel]))["correlation"]
               for sel in (rows & (frames.videos == v) for v in _unique(frames.videos[rows]))]
        values["depth_trace"] = {"correlation": recovery_metrics(_sums(predicted[rows], true[rows],
                                                                       measured[rows]))["correlation"],
                                 "videos": video_statistics(own)}


def _type_order(types):
    return [name for name in spoof_types.NAMES if name in set(types.tolist())]


def _unique(values):
    """The distinct values in order of first appearance."""
    return list(dict.fromkeys(values.tolist()))


def _sums(predicted, true, keep):
    sums = np.zeros(8)
    for p, t, k in zip(predicted, true, keep):
        accumulate_recovery(sums, p[k], t[k])
    return sums


def _band_split(predicted, true, bands):
    """[(recovered band, true band)] for BANDS with the averaging Eq. 9 split (physstd.ops.decompose)."""
    import tensorflow as tf

    from physstd import ops   # TensorFlow: this module stays free of it until the bands are split

    n1, n2 = bands
    out = [([], []), ([], []), ([], [])]
    for start in range(0, len(predicted), 64):
        for which, x in enumerate((predicted, true)):
            for b, band in enumerate(ops.decompose(tf.constant(x[start:start + 64]), n1, n2)):
                out[b][which].append(band.numpy())
    return [(np.concatenate(p), np.concatenate(t)) for p, t in out]


def _video_specificity(frames, traces, keep, name):
    """{video: (r(v, v), s(v))} for the videos of one spoof type (module doc: the frame test); s is None for a
    type with one video."""
    rows = np.flatnonzero(frames.types == name)
    videos = _unique(frames.videos[rows])
    members = {v: rows[frames.videos[rows] == v] for v in videos}
    out = {}
    for v in videos:
        mine = members[v]
        own = recovery_metrics(_sums(traces[mine], frames.traces[mine], keep[mine]))["correlation"]
        cross = []
        for u in videos:
            if u == v:
                continue
            theirs = members[u][np.arange(len(mine)) % len(members[u])]
            cross.append(recovery_metrics(_sums(traces[mine], frames.traces[theirs],
                                                keep[mine] & keep[theirs]))["correlation"])
        out[v] = (own, own - float(np.mean(cross)) if cross else None)
    return out


def frame_test(method_videos, reference_videos):
    """The frame test of one type: the method's per-video specificity s(v) against each reference's.

    method_videos, reference_videos[name]: {video: (r(v, v), s(v))} (frame_metrics' per_video). Returns {videos
    (with an s), then per reference name: {beats: videos whose s exceeds the reference's, p: one-sided sign test,
    excess: mean of the differences}} and follows_frame: the template's p < SIGNIFICANCE."""
    result = {"videos": 0}
    for name, videos in reference_videos.items():
        pairs = [(s, videos[v][1]) for v, (_, s) in method_videos.items()
                 if s is not None and v in videos and videos[v][1] is not None]
        beats = sum(mine > theirs for mine, theirs in pairs)
        result["videos"] = len(pairs)
        result[name] = {"beats": int(beats), "p": sign_test(beats, len(pairs)),
                        "excess": float(np.mean([m - t for m, t in pairs])) if pairs else None}
    result["follows_frame"] = bool(TEMPLATE in result and result[TEMPLATE]["p"] < SIGNIFICANCE)
    return result


# --- statistics ---------------------------------------------------------------------------------------------------
def video_statistics(correlations):
    """Per-video view of trace recovery: the test *videos* are the independent samples, not the pixels.

    correlations: each video's correlation (its frames pooled). Returns {videos, positive: how many correlate
    positively, sign_p: one-sided sign test of "positive more often than not" (binomial, p = 1/2), median}."""
    correlations = np.asarray(correlations, np.float64)
    positive = int((correlations > 0).sum())
    return {"videos": len(correlations), "positive": positive, "sign_p": sign_test(positive, len(correlations)),
            "median": float(np.median(correlations)) if len(correlations) else 0.0}


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
    (physstd.eval.trace_ceiling, README)."""
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
    """A correlation (or a difference of two) to three decimals; "-" for None."""
    return "-" if value is None else f"{value:.3f}"


def _frame_cell(test, name):
    entry = test.get(name) if test else None
    if not entry or not test["videos"]:
        return "-"
    return f"{entry['beats']}/{test['videos']} ({entry['p']:.2g}), {entry['excess']:+.3f}"


def recovery_report(recovery, split="test", trace_name=PHYSTD_TRACE_NAME):
    """Markdown lines of a recovery_on_split result on `split` (the demo's report.md section, trace_recovery.md);
    trace_name: the TraceModel's name of the recovered trace."""
    lines = [f"## Trace recovery on the {split} spoofs (outside the true inpainting region)", "",
             f"{trace_name} against the true T_A = S - L of the synthetic set. Correlation: Pearson over the "
             "pixels, channels and frames of a type; per band: the same after splitting both traces into the bands "
             "of Eq. 9 (low = [x]n1, mid = [x]n2 - [x]n1, high = x - [x]n2). PSNR: of the recovered trace against "
             "the true one (peak 1), next to leaving the trace in. Videos r > 0: test videos whose recovered trace "
             "correlates positively with their true one (one-sided sign test p). Specificity: the mean over videos "
             "of r(v, v) - mean r(v, u), a video's correlation with its own true trace minus that with the true "
             "traces of the other videos of its type (0 for an output that ignores the frame).", "",
             "| spoof type | frames | correlation | low | mid | high | true energy low / mid / high (%) "
             "| PSNR (dB) | PSNR if left in (dB) | videos r > 0 (p) | specificity |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for name, values in recovery.items():
        bands = " | ".join(f"{values['bands'][band]:.3f}" for band in BANDS)
        energy = " / ".join(f"{100 * values['band_energy'][band]:.0f}" for band in BANDS)
        videos = values["videos"]
        lines.append(f"| {name} | {values['frames']} | {values['correlation']:.3f} | {bands} | {energy} | "
                     f"{values['psnr']:.1f} | {values['psnr_without_removal']:.1f} | "
                     f"{videos['positive']}/{videos['videos']} ({videos['sign_p']:.2g}) | "
                     f"{format_correlation(values.get('specificity'))} |")
    per_type = {k: v for k, v in recovery.items() if k != ALL_TYPES}
    good = [k for k, v in per_type.items() if v["videos"]["sign_p"] < SIGNIFICANCE]
    better = [k for k, v in per_type.items() if v["psnr"] > v["psnr_without_removal"]]
    lines += ["", f"Types whose recovered trace correlates with the true one (positive in more test videos than "
              f"chance, sign test p < {SIGNIFICANCE}): {', '.join(good) or 'none'} of {len(per_type)}. Types where "
              f"removing the recovered trace brings the frame closer to the true live face (higher PSNR): "
              f"{', '.join(better) or 'none'}.", ""]
    references = next((v["references"] for v in recovery.values() if "references" in v), None)
    if references:
        names = list(references)
        lines += ["### Against predictors that never see the trace", "",
                  "Correlation with the true trace, the same frames and pixels. The references are fitted on the "
                  "train split's spoof frames: template = the per-type mean true trace; colour map = per type "
                  "a + B I (12 parameters); negated image = -I.", "",
                  "| spoof type | this method | " + " | ".join(names) + " |",
                  "|---|---:|" + "---:|" * len(names)]
        for name, values in recovery.items():
            lines.append(f"| {name} | {values['correlation']:.3f} | "
                         + " | ".join(f"{values['references'][ref]['correlation']:.3f}" for ref in names) + " |")
        lines += ["", "Frame test: each video's specificity against the same video's specificity under the template "
                  "and under the colour map: videos where this method's is higher / videos (one-sided sign test p), "
                  "mean excess. The trace *follows the frame* when it beats the template at p < "
                  f"{SIGNIFICANCE}; the colour map (and -I) also pass that bar through the face they see, so beating "
                  "the colour map is the stronger claim.", "",
                  "| spoof type | specificity | template | colour map | negated image | beats template (p), excess "
                  "| beats colour map (p), excess | follows the frame |", "|---|---:|---:|---:|---:|---|---|---|"]
        for name, values in recovery.items():
            test = values["frame_test"]
            refs = values["references"]
            lines.append(f"| {name} | {format_correlation(values.get('specificity'))} | "
                         + " | ".join(format_correlation(refs[ref]["specificity"])
                                      for ref in (TEMPLATE, COLOUR_MAP, "negated image"))
                         + f" | {_frame_cell(test, TEMPLATE)} | {_frame_cell(test, COLOUR_MAP)} | "
                         f"{'yes' if test['follows_frame'] else 'no'} |")
        following = [k for k, v in per_type.items() if v["frame_test"]["follows_frame"]]
        lines += ["", f"Types whose trace follows the frame: {', '.join(following) or 'none'}.", ""]
    effects = {k: v["effect"] for k, v in recovery.items() if "effect" in v}
    if effects:
        lines += ["### Overall effect I - I_hat", "",
                  "What the method removes from the image (its losses constrain this, not T_A alone) against the true "
                  "effect I - L, on every pixel, the inpainting region included.", "",
                  "| spoof type | correlation on T_A | correlation on the effect | videos r > 0 (p) |",
                  "|---|---:|---:|---:|"]
        lines += [f"| {name} | {recovery[name]['correlation']:.3f} | {e['correlation']:.3f} | "
                  f"{e['videos']['positive']}/{e['videos']['videos']} ({e['videos']['sign_p']:.2g}) |"
                  for name, e in effects.items()]
        lines.append("")
    depth = {k: v["depth_trace"] for k, v in recovery.items() if "depth_trace" in v}
    if depth:
        lines += ["### Sensor-depth trace", "",
                  "The method's depth trace against the true one (the spoof's normalised sensor depth minus its live "
                  "twin's), Pearson over the pixels where both are measured.", "",
                  "| spoof type | depth-trace correlation | videos r > 0 (p) |", "|---|---:|---:|"]
        lines += [f"| {name} | {d['correlation']:.3f} | {d['videos']['positive']}/{d['videos']['videos']} "
                  f"({d['videos']['sign_p']:.2g}) |" for name, d in depth.items()]
        lines.append("")
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


def record_of(result):
    """The JSON-ready form of a recovery_on_split result: per_video pairs become {video: [r, s]}."""
    return {name: {key: ({v: list(pair) for v, pair in value.items()} if key == "per_video" else value)
                   for key, value in values.items()} for name, values in result.items()}


def write_outputs(output_dir, run_dir, result, where):
    """trace_recovery.json (the record of the module doc) and trace_recovery.md in output_dir, each written
    atomically; returns their paths."""
    whole = whole_face_recovery(result)
    record = {"format_version": RECORD_FORMAT_VERSION, "run_dir": os.path.abspath(run_dir), **where,
              "types": record_of(result), "whole_face": whole}
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
    parser.add_argument("--reference_run", default="", help="comma-separated run directories scored as extra "
                        "reference rows (for example a generator supervised on the true traces: the ceiling)")
    args = parser.parse_args(argv)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    try:
        if not args.run_dir:
            raise ValueError("--run_dir is required (a run directory written by run_train.py)")
        if args.batch_size < 1:
            raise ValueError(f"--batch_size must be at least 1; got {args.batch_size}")
        result, where = recovery_of_run(args.run_dir, args.data_root, args.split_dir, args.protocol, args.split,
                                        args.fold, args.batch_size,
                                        [path for path in args.reference_run.split(",") if path])
        paths = write_outputs(args.output_dir or os.path.join(args.run_dir, "eval", "trace_recovery"),
                              args.run_dir, result, where)
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print("\n".join(recovery_report(result, args.split, where["trace"])))
    print(f"written {paths['json']} and {paths['markdown']}")
    return 0


if __name__ == "__main__":
    sys.exit(cli.guarded(main)(sys.argv[1:]))   # a data error raised in a tf.data thread: one error line
