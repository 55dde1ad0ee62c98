"""Protocol evaluation of a trained model of any method (physstd.methods): calibrate, score the test split, metrics.

One fold (`evaluate_fold`):
1. run the model over the calibration split (dev, or train for protocols without one; never test) and collect the
   method's score terms per frame (PhySTD: the two terms of Eq. 10, trace magnitude and depth mean);
2. fit the method's score parameters (PhySTD: alpha0) and the threshold there (`calibrate`: the EER threshold, or
   with the BPCER rule the threshold at a target BPCER, scoring.threshold_rule) at the evaluation level, and save
   them with a run directory as <run_dir>/calibration.json (scoring.save_calibration);
3. score the test split with the method's score (PhySTD: alpha0 * trace_magnitude - depth_mean); video score = the
   mean of its frame scores (the default) or every frame on its own (`frame_level`); metrics.evaluate at the
   calibration threshold, per attack species too (metrics.evaluate_per_species).

APCER over several attack species (metrics module doc): SiW-M protocols (protocol.json dataset "siw_m") report the
pooled APCER, as the paper's SiW-M tables do (PhySTD paper, Tab. 3 Overall 2.8 beside cosmetic's 18.5 cannot come
from a worst species; Tab. 5's folds mix known and unknown types and are pooled too); every other protocol
(OULU-NPU, SiW, ...) reports the worst species, as their protocols define it. The worst-species APCER and ACER
are always in the metrics too ("apcer_worst_species", "acer_worst_species"), never in place of "apcer"/"acer".

Calibration level: every method's score is linear in its terms (PhySTD: a video's score is
alpha0 * mean(trace) - mean(depth)), so the calibration runs on per-video means of the terms when the evaluation is
per video. The threshold in calibration.json is
therefore a video-level threshold after a video-level run_test (the SavedModel applies it to single faces).

A model is a run directory (restored by its method's `load`) or a SavedModel export (physstd.export); both give the
same frame statistics (tests/test_evaluate.py). A method that takes sensor depth (Method.input_keys) is fed the
frames' normalised depth next to the images, and the set must hold depth in the units the model was trained on.

Files of one fold (written atomically):
    scores.csv        video_id,frame,label,spoof_type,score      the samples the metrics use; frame = -1 marks a
                                                                 video-level score (the mean of its frames)
    frame_scores.csv  video_id,frame,label,spoof_type,score,<the method's score terms>    every test frame
                      (PhySTD: trace_magnitude,depth_mean)
"""
import csv
import dataclasses
import io
import os

import numpy as np

from physstd import config, files, methods, runs, viz
from physstd.data import pipeline, prepared, protocols, spoof_types
from physstd.eval import metrics, scoring
from physstd.methods import base

RESULTS_FORMAT_VERSION = 1
VIDEO_FRAME = -1  # the `frame` of a video-level row in scores.csv
SCORE_COLUMNS = ("video_id", "frame", "label", "spoof_type", "score")
SUMMARY_METRICS = ("apcer", "bpcer", "acer", "hter", "eer", "auc", "tdr")
WORST_SPECIES_METRICS = ("apcer_worst_species", "acer_worst_species")
# Datasets whose paper tables pool the attack species into one APCER (module doc); the rest use the worst one.
POOLED_APCER_DATASETS = ("siw_m",)
# The APCER each paper table prints (physstd.eval.tables); tables without an APCER are not listed.
TABLE_APCER = {"oulu": metrics.WORST_SPECIES, "siw": metrics.WORST_SPECIES, "siw_to_oulu": metrics.WORST_SPECIES,
               "siwm_p1": metrics.POOLED,
               "siwm_p2": metrics.POOLED, "siwm_p3": metrics.POOLED,
               # WMCA and CeFA results (their releases' evaluation, the Multi-Modal Disentanglement paper) pool
               # every attack into one APCER.
               "wmca_grandtest": metrics.POOLED, "wmca_loo": metrics.POOLED, "cefa": metrics.POOLED}


# --- models -------------------------------------------------------------------------------------------------------
def is_saved_model(path):
    """Whether `path` is a SavedModel folder (holds saved_model.pb) rather than a run directory."""
    return os.path.isfile(os.path.join(os.fspath(path), "saved_model.pb"))


class ScoringModel:
    """The part of a model evaluation needs: its method, image size, per-frame score terms, calibration, run flags.

    kind 'run': a run directory, restored by its method (physstd.methods, named in flags.json; PhySTD when it names
    none); calibration saved to <run_dir>/calibration.json.
    kind 'saved_model': a physstd export; its calibration is the one baked into it (physstd_export.json).
    depth_units: the sensor-depth units the model was trained on (None for an image-only method).
    """

    def __init__(self, path):
        import tensorflow as tf

        self.path = os.fspath(path)
        if is_saved_model(self.path):
            from physstd import export   # TensorFlow: imported when a SavedModel is evaluated

            self.kind = "saved_model"
            self.info = export.read_export_info(self.path)
            self.info_path = os.path.join(self.path, export.INFO_FILE)
            self.method = methods.get(self.info["method"], self.info_path)
            self.image_size = int(self.info["image_size"])
            self.depth_units = self.info.get("depth_units")
            signature = export.load_export(self.path).signatures[export.SIGNATURE_FLOAT32]

            def statistics(inputs):
                named = inputs if isinstance(inputs, dict) else {"image": inputs}
                out = signature(**{export.INPUT_NAMES[key]: value for key, value in named.items()})
                return {term: out[term] for term in self.method.score_terms}
        else:
            self.kind = "run"
            self.info = None
            self.method = methods.of_run(self.path)
            inference = self.method.load(self.path)
            self.image_size = size = inference.image_size
            terms, keys = self.method.score_terms, self.method.input_keys
            self.depth_units = (runs.run_depth_units(runs.read_run_flags(self.path), self.path)
                                if pipeline.SENSOR_DEPTH in keys else None)
            specs = {key: tf.TensorSpec([None, size, size, config.INPUT_CHANNELS[key]], tf.float32) for key in keys}

            # autograph=False: tracing then parses no source while the input pipeline's threads run (files.py).
            @tf.function(input_signature=[base.model_inputs(keys, specs)], autograph=False)
            def statistics(inputs):
                out = inference(inputs)
                return {term: out[term] for term in terms}

        self._statistics = statistics

    def statistics(self, inputs):
        """{score term: float64 (batch,) numpy array} of float32 images (batch, N, N, 3) (for a method with more
        input_keys, the dict of Method.inference_inputs)."""
        return {term: np.asarray(value, np.float64) for term, value in self._statistics(inputs).items()}

    def check_data(self, data_root):
        """Refuse (ValueError naming its meta.json) a prepared set without the inputs the model takes, or with
        sensor depth in other units than it was trained on."""
        keys = self.method.input_keys
        units = pipeline.sensor_depth_units(prepared.read_meta(data_root), data_root, keys)
        if units != self.depth_units:
            raise ValueError(f"{os.path.join(data_root, prepared.META_FILE)}: sensor depth in {units}, but "
                             f"{self.path} was trained on depth in {self.depth_units}")

    def run_flags(self):
        """flags.json of the run (of the source run for an export, when it is still there); None if unknown."""
        run_dir = self.path if self.kind == "run" else self.info.get("source", "")
        if run_dir and os.path.isfile(os.path.join(run_dir, runs.FLAGS_FILE)):
            return runs.read_run_flags(run_dir)
        return None

    def saved_calibration(self):
        """{'method', 'params', 'threshold', 'threshold_rule', 'split'} saved with the model, or None."""
        if self.kind == "saved_model":
            params = self.method.check_params(self.info["params"], self.info_path)
            return {"method": self.method.name, "params": params, "threshold": float(self.info["threshold"]),
                    "threshold_rule": scoring.export_rule(self.info, self.info_path),
                    "split": self.info.get("calibration_split", "")}
        path = scoring.run_calibration_path(self.path)
        if path is None:
            return None
        return scoring.load_calibration(path, self.method)

    @property
    def calibration_path(self):
        """Where a run directory saves its calibration (None for an export, which is never rewritten)."""
        return os.path.join(self.path, scoring.CALIBRATION_FILENAME) if self.kind == "run" else None


# --- frame statistics ---------------------------------------------------------------------------------------------
@dataclasses.dataclass
class Samples:
    """Per-sample (frame or video) columns; `frame` is VIDEO_FRAME for video-level samples; `terms`: {score term:
    values} of the model's method."""

    video_id: np.ndarray
    frame: np.ndarray
    label: np.ndarray
    spoof_type: np.ndarray
    terms: dict

    def __len__(self):
        return len(self.label)

    def scores(self, method, params):
        """The method's frame scores (higher = attack) of every sample with the fitted `params`."""
        return np.asarray(method.score(self.terms, params), np.float64)


def collect_frames(model, data_root, video_ids, batch_size=32):
    """Samples of every kept frame of `video_ids` in a prepared dataset (physstd.data.pipeline.eval_dataset)."""
    if not video_ids:
        raise ValueError(f"{data_root}: no videos to evaluate (empty split list)")
    model.check_data(data_root)
    columns = {name: [] for name in ("video_id", "frame", "label", "spoof_type")}
    terms = {term: [] for term in model.method.score_terms}
    method = model.method
    for batch in pipeline.eval_dataset(data_root, list(video_ids), model.image_size, batch_size,
                                       input_keys=method.input_keys):
        for term, values in model.statistics(method.inference_inputs(batch)).items():
            terms[term].append(values)
        columns["video_id"].append([v.decode("utf-8") for v in batch["video_id"].numpy()])
        columns["frame"].append(batch["frame"].numpy())
        columns["label"].append(batch["label"].numpy())
        columns["spoof_type"].append([spoof_types.NAMES[t] for t in batch["spoof_type"].numpy()])
    return Samples(**{name: np.concatenate(values) for name, values in columns.items()},
                   terms={term: np.concatenate(values) for term, values in terms.items()})


def video_samples(frames):
    """One sample per video: the mean of its frames' score terms (for a score linear in its terms, as every method's
    here is, its score is then the mean frame score)."""
    terms = {}
    for term, values in frames.terms.items():
        ids, terms[term], labels, species = scoring.video_scores(frames.video_id, values, frames.label,
                                                                 frames.spoof_type)
    return Samples(ids, np.full(len(ids), VIDEO_FRAME), labels, species, terms)


def at_level(frames, frame_level):
    return frames if frame_level else video_samples(frames)


# --- files --------------------------------------------------------------------------------------------------------
def write_scores_csv(path, samples, scores, extra=False):
    """scores.csv (SCORE_COLUMNS) or, with extra, frame_scores.csv (SCORE_COLUMNS and the method's score terms);
    atomic."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    terms = list(samples.terms) if extra else []
    writer.writerow(SCORE_COLUMNS + tuple(terms))
    for i in range(len(samples)):
        row = [samples.video_id[i], int(samples.frame[i]), int(samples.label[i]), samples.spoof_type[i],
               repr(float(scores[i]))]
        row += [repr(float(samples.terms[term][i])) for term in terms]
        writer.writerow(row)
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    files.write_text_atomic(path, buffer.getvalue())


def read_scores_csv(path):
    """(labels int, scores float, spoof_types str) of a scores.csv; a ValueError names the file when malformed."""
    path = os.fspath(path)
    try:
        with open(path, newline="") as stream:
            reader = csv.DictReader(stream)
            missing = [c for c in SCORE_COLUMNS if c not in (reader.fieldnames or [])]
            if missing:
                raise ValueError(f"{path}: header lacks {', '.join(missing)}; expected {','.join(SCORE_COLUMNS)}")
            rows = list(reader)
        return (np.array([int(r["label"]) for r in rows]), np.array([float(r["score"]) for r in rows]),
                np.array([r["spoof_type"] for r in rows]))
    except FileNotFoundError:
        raise ValueError(f"{path}: scores file not found") from None
    except (TypeError, KeyError, ValueError) as error:
        if str(error).startswith(path):
            raise
        raise ValueError(f"{path}: not a scores CSV ({error})") from None


# --- one fold -----------------------------------------------------------------------------------------------------
def protocol_apcer(split_dir, protocol):
    """The APCER definition of a protocol: pooled for the datasets of POOLED_APCER_DATASETS (named by the
    protocol's protocol.json), else the worst species (also for hand-made split lists without protocol.json)."""
    dataset = protocols.protocol_info(split_dir, protocol).get("dataset")
    return metrics.POOLED if dataset in POOLED_APCER_DATASETS else metrics.WORST_SPECIES


def calibration_ids(split_dir, protocol, fold, calibration_split):
    """(video ids, subset name) to calibrate on: `calibration_split` ('dev' or 'train'); 'dev' falls back to
    'train' for protocols that ship no dev list (SiW, SiW-M), as training does."""
    if calibration_split not in ("dev", "train"):
        raise ValueError(f"calibration_split must be 'dev' or 'train' (never test); got {calibration_split!r}")
    try:
        return protocols.load_split(split_dir, protocol, calibration_split, fold), calibration_split
    except protocols.SubsetMissing:
        if calibration_split != "dev":
            raise
        return protocols.load_split(split_dir, protocol, "train", fold), "train"


def calibrate(method, samples, rule=None):
    """{'params', 'threshold', 'threshold_rule'} of a method on one train/dev set of Samples: the method's fitted
    score parameters, then the threshold of its scores there by `rule` (scoring.threshold_rule): the EER threshold by
    default (the usual operating point of the FAS protocols: it balances APCER and BPCER on the set it is chosen on),
    or the threshold at a target BPCER (the multi-modal paper's BPCER = 1%)."""
    rule = scoring.threshold_rule(**(rule or scoring.EER_RULE))
    params = method.fit_score(samples.label, samples.terms)
    threshold = scoring.choose_threshold(samples.label, samples.scores(method, params), rule)
    return {"params": params, "threshold": float(threshold), "threshold_rule": rule}


def calibration_root(model, data_root, split_dir, protocol, calibration_split="dev"):
    """The prepared root to calibrate on: `data_root` (the test set's), except for a cross-dataset protocol whose
    calibration subset comes from another dataset than its test (protocol.json's subset_datasets): then the root the
    run was trained on (its flags.json), since the threshold is never taken from the target."""
    of = protocols.protocol_info(split_dir, protocol).get("subset_datasets") or {}
    if of.get(calibration_split, of.get("train")) == of.get("test"):
        return data_root
    trained_on = (model.run_flags() or {}).get("train", {}).get("data_root", "")
    if not trained_on:
        raise ValueError(f"{model.path}: protocol {protocol} calibrates on {of.get(calibration_split)} and tests on "
                         f"{of.get('test')}, and this model does not say where its training set lies; evaluate the "
                         f"run directory, or pass --use_saved_calibration")
    return trained_on


def calibrate_model(model, data_root, split_dir, protocol, fold=None, calibration_split="dev", frame_level=False,
                    batch_size=32, save=True, rule=None):
    """Fit the method's score parameters and the threshold (by `rule`, scoring.threshold_rule; EER by default) on the
    calibration split; saved to <run_dir>/calibration.json for a run.

    Returns {'method', 'params', 'threshold', 'threshold_rule', 'split', 'source': 'calibrated', 'samples'}.
    """
    ids, subset = calibration_ids(split_dir, protocol, fold, calibration_split)
    samples = at_level(collect_frames(model, data_root, ids, batch_size), frame_level)
    fitted = calibrate(model.method, samples, rule)
    if save and model.calibration_path:
        scoring.save_calibration(model.calibration_path, model.method, fitted["params"], fitted["threshold"], subset,
                                 fitted["threshold_rule"])
    return {"method": model.method.name, **fitted, "split": subset, "source": "calibrated", "samples": len(samples)}


def evaluate_fold(model, data_root, split_dir, protocol, fold=None, calibration_split="dev", frame_level=False,
                  use_saved_calibration=False, batch_size=32, output_dir=None, fdr=metrics.DEFAULT_FDR, apcer=None,
                  rule=None):
    """Calibrate (or read the saved calibration), score the test split, compute the metrics; write the CSVs.

    apcer: the APCER definition of "apcer"/"acer" (metrics.APCER_DEFINITIONS); None = the protocol's
    (protocol_apcer). rule: the threshold rule of the calibration (scoring.threshold_rule; EER by default); a saved
    calibration keeps the rule it was made with.

    Returns a JSON-ready dict: model, fold, level, calibration, counts, metrics (metrics.evaluate at the
    calibration threshold), per_species (metrics.evaluate_per_species), files; and, under the key "_curve", the
    (labels, scores) of the test samples for ROC/DET figures (not JSON; removed before saving).
    """
    protocols.check_identities(split_dir, protocol, fold, data_root)   # and load_split: no leaked video
    if use_saved_calibration:
        calibration = model.saved_calibration()
        if calibration is None:
            raise ValueError(f"{model.path}: no saved calibration ({scoring.CALIBRATION_FILENAME}); run without "
                             f"--use_saved_calibration to fit the score and the threshold on the dev/train split")
        calibration = dict(calibration, source="saved")
    else:
        calibration = calibrate_model(model, calibration_root(model, data_root, split_dir, protocol, calibration_split),
                                      split_dir, protocol, fold, calibration_split, frame_level, batch_size, rule=rule)
    test_ids = protocols.load_split(split_dir, protocol, "test", fold)
    apcer = apcer or protocol_apcer(split_dir, protocol)
    frames = collect_frames(model, data_root, test_ids, batch_size)
    samples = at_level(frames, frame_level)
    scores = samples.scores(model.method, calibration["params"])
    result = {
        "model": os.path.abspath(model.path), "model_kind": model.kind, "method": model.method.name, "fold": fold,
        "level": "frame" if frame_level else "video", "calibration": calibration,
        "num_videos": int(len(set(frames.video_id.tolist()))), "num_frames": int(len(frames)),
        "num_samples": int(len(samples)),
        "metrics": metrics.evaluate(samples.label, scores, calibration["threshold"], samples.spoof_type, fdr, apcer),
        "per_species": metrics.evaluate_per_species(samples.label, scores, samples.spoof_type,
                                                    calibration["threshold"], fdr, apcer),
        "_curve": (samples.label, scores),
    }
    if output_dir:
        paths = {"scores": os.path.join(output_dir, "scores.csv"),
                 "frame_scores": os.path.join(output_dir, "frame_scores.csv")}
        write_scores_csv(paths["scores"], samples, scores)
        write_scores_csv(paths["frame_scores"], frames, frames.scores(model.method, calibration["params"]),
                         extra=True)
        result["files"] = paths
    return result


def summarize(fold_results):
    """{metric: value} for one fold, {metric: {'mean', 'std', 'folds'}} over several (metrics.mean_std); the
    metrics of SUMMARY_METRICS and WORST_SPECIES_METRICS."""
    summary = {}
    for name in SUMMARY_METRICS + WORST_SPECIES_METRICS:
        values = [result["metrics"][name] for result in fold_results]
        if len(values) == 1:
            summary[name] = values[0]
        else:
            mean, std = metrics.mean_std(values)
            summary[name] = {"mean": mean, "std": std, "folds": values}
    return summary


# --- paper tables ------------------------------------------------------------------------------------------------
def table_results(table, fold_results, entry=""):
    """{entry: {metric: value}} for physstd.eval.tables from fold results (see the README, run_test.py --table).

    siwm_p1: one entry per attack species (metrics.evaluate_per_species) and 'overall' (all species pooled).
    siwm_p2, siwm_p3, wmca_loo: one entry per fold, named by the fold (a SiW-M type name, a WMCA PAI category).
    cross_type_auc: one entry per fold, '<entry>_<fold>' (entry = casia, replay or msu).
    oulu, siw, siw_to_oulu, wmca_grandtest, cefa, casia_replay: one entry `entry` ('1'..'4', 'grandtest',
    'casia_to_replay', ...), a list over folds if several.
    A fold evaluated with another APCER definition than the table prints (TABLE_APCER) is a ValueError: evaluate
    with apcer=TABLE_APCER[table] (run_test.py does).
    """
    wanted = TABLE_APCER.get(table)
    for result in fold_results:
        used = result["metrics"].get("apcer_definition")
        if wanted and used != wanted:
            raise ValueError(f"table {table} prints the {wanted} APCER, but fold {result['fold']} was evaluated with "
                             f"the {used} one; evaluate with apcer={wanted!r}")
    if table == "siwm_p1":
        if len(fold_results) != 1:
            raise ValueError("table siwm_p1 takes one model (SiW-M protocol I has no folds)")
        result = fold_results[0]
        return dict(result["per_species"], overall=result["metrics"])
    if table in ("siwm_p2", "siwm_p3", "wmca_loo", "cross_type_auc"):
        prefix = f"{entry}_" if table == "cross_type_auc" else ""
        if any(result["fold"] is None for result in fold_results):
            raise ValueError(f"table {table} has one column per fold; evaluate a protocol with folds")
        return {f"{prefix}{result['fold']}": result["metrics"] for result in fold_results}
    if not entry:
        raise ValueError(f"table {table} needs --table_entry (the protocol column, e.g. 1..4 or casia_to_replay)")
    if len(fold_results) == 1:
        return {entry: fold_results[0]["metrics"]}
    return {entry: {name: [result["metrics"][name] for result in fold_results] for name in SUMMARY_METRICS}}


def _parameters_cell(calibration):
    """'alpha0 = 1.5' from a calibration record (a results.json written before the harness holds alpha0 alone)."""
    params = calibration.get("params", {name: calibration[name] for name in ("alpha0",) if name in calibration})
    return ", ".join(f"{name} = {value:.4g}" for name, value in sorted(params.items()))


def _threshold_cell(calibration):
    """'0.4213 (BPCER = 1%)' from a calibration record (results.json written before threshold rules: EER)."""
    rule = calibration.get("threshold_rule", scoring.EER_RULE)
    return f"{calibration['threshold']:.4g} ({scoring.describe_rule(rule)})"


def summary_markdown(fold_results):
    """A Markdown table: one row per fold (and mean ± std), columns SUMMARY_METRICS in percent; where the APCER is
    pooled, also the worst-species APCER and ACER (WORST_SPECIES_METRICS), which then differ from APCER and ACER."""
    columns = SUMMARY_METRICS
    if any(result["metrics"]["apcer_definition"] == metrics.POOLED for result in fold_results):
        columns += WORST_SPECIES_METRICS
    labels = [m.upper() if m in SUMMARY_METRICS else m.split("_")[0].upper() + " (worst species)" for m in columns]
    header = "| fold | samples | score parameters | threshold | " + " | ".join(labels) + " |"
    lines = [header, "|" + "---|" * (4 + len(columns))]
    for result in fold_results:
        cells = [f"{100 * result['metrics'][m]:.2f}" for m in columns]
        lines.append(f"| {result['fold'] if result['fold'] is not None else '-'} | {result['num_samples']} | "
                     f"{_parameters_cell(result['calibration'])} | {_threshold_cell(result['calibration'])} | "
                     + " | ".join(cells) + " |")
    if len(fold_results) > 1:
        summary = summarize(fold_results)
        cells = [f"{100 * summary[m]['mean']:.2f} ± {100 * summary[m]['std']:.2f}" for m in columns]
        lines.append("| mean ± std | | | | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def results_record(fold_results, protocol, data_root, split_dir):
    """The results.json record (format_version 1): folds without their curves, and the summary."""
    folds = [{key: value for key, value in result.items() if not key.startswith("_")} for result in fold_results]
    return {"format_version": RESULTS_FORMAT_VERSION, "protocol": protocol, "data_root": os.path.abspath(data_root),
            "split_dir": os.path.abspath(split_dir), "fdr": metrics.DEFAULT_FDR,
            "apcer_definition": fold_results[0]["metrics"]["apcer_definition"],
            "level": fold_results[0]["level"], "folds": folds, "summary": summarize(fold_results)}


# --- a protocol: one model per fold ----------------------------------------------------------------------------
def _resolve(model, data_root, split_dir, protocol, fold):
    """data_root, split_dir, protocol, fold: the given values, else those the model was trained with."""
    flags = (model.run_flags() or {}).get("train", {})
    data_root = data_root or flags.get("data_root", "")
    protocol = protocol or flags.get("protocol", "")
    if not data_root or not protocol:
        raise ValueError(f"{model.path}: cannot tell which dataset/protocol to evaluate on (no run flags.json "
                         f"found); pass --data_root and --protocol")
    split_dir = split_dir or flags.get("split_dir") or os.path.join(data_root, "protocols")
    if fold is None:
        fold = flags.get("fold") or None
    return data_root, split_dir, protocol, fold


def _check_shared_training_set(split_dir, protocol, folds, path):
    """One model may stand for several folds only where they share one training and threshold set (the
    cross-dataset protocols whose folds differ in the target's test split alone); else a ValueError."""
    subsets = [protocols.load_fold(split_dir, protocol, str(fold)) for fold in folds]
    for subset in ("train", "dev"):
        if len({tuple(fold_subsets.get(subset, ())) for fold_subsets in subsets}) > 1:
            raise ValueError(f"--run_dir gives one model ({path!r}) for folds {', '.join(map(str, folds))} of "
                             f"{protocol}, whose {subset} splits differ; give one run per fold")


def evaluate_models(model_paths, output_dir=None, data_root="", split_dir="", protocol="", folds=None,
                    calibration_split="dev", frame_level=False, use_saved_calibration=False, batch_size=32,
                    log=print, apcer=None, rule=None):
    """Evaluate one model, or one model per fold of a protocol; write per-fold CSVs, results.json, roc_det.png.

    model_paths: run directories or SavedModel exports. folds: one per model, or None to take each run's
    training fold (flags.json); one model with several folds where those folds share their train and dev lists
    (siw_to_oulu_p3, p4: one SiW model, six OULU-NPU test splits). apcer: the APCER definition (evaluate_fold;
    None = the protocol's). rule: the threshold rule of a new calibration (scoring.threshold_rule; refused with
    use_saved_calibration, which keeps its own). Returns (results record, fold results). Output folder:
    `output_dir`, by default <run_dir>/eval/<protocol> for a single run directory (required otherwise); one
    fold_<k>/ per fold.
    """
    if output_dir:
        files.check_output_dir(output_dir)   # before minutes of scoring
    if rule is not None and use_saved_calibration:
        raise ValueError("a threshold rule chooses a new threshold; with the saved calibration its own threshold (and "
                         "rule) is used: drop --threshold_rule or --use_saved_calibration")
    model_paths = list(model_paths)
    if not model_paths:
        raise ValueError("no model to evaluate: pass --run_dir (run directories or SavedModel exports)")
    first_spelling = {}
    for path in model_paths:   # the same run twice (or spelled two ways) would be averaged as two folds
        spelled = first_spelling.setdefault(os.path.realpath(path), path)
        if spelled != path or model_paths.count(path) > 1:
            raise ValueError(f"--run_dir lists one model twice ({spelled!r} and {path!r}); give one run per fold")
    one_model_many_folds = len(model_paths) == 1 and folds is not None and len(folds) > 1
    if one_model_many_folds:   # a cross-dataset protocol whose folds share one training set (siw_to_oulu_p3)
        model_paths = model_paths * len(folds)
    if folds and len(folds) != len(model_paths):
        raise ValueError(f"{len(folds)} folds for {len(model_paths)} models; give one fold per model")
    fold_results, resolved = [], None
    for index, path in enumerate(model_paths):
        model = ScoringModel(path)
        fold = str(folds[index]) if folds else None
        where = _resolve(model, data_root, split_dir, protocol, fold)
        if resolved and where[:3] != resolved[:3]:
            raise ValueError(f"{path}: trained on {where[:3]}, but {model_paths[0]} on {resolved[:3]}; evaluate "
                             f"folds of one protocol together, or pass --data_root/--split_dir/--protocol")
        resolved = where
        root, splits, name, fold = where
        available = protocols.list_folds(splits, name)
        if available and fold is None:
            raise ValueError(f"protocol {name!r} has folds {', '.join(available)}; pass --folds (one per model)")
        if one_model_many_folds and index == 0:
            _check_shared_training_set(splits, name, folds, path)
        if output_dir is None:
            if (len(model_paths) > 1 and not one_model_many_folds) or model.kind != "run":
                raise ValueError("--output_dir is required for several models or a SavedModel")
            output_dir = os.path.join(model.path, "eval", name)
        fold_dir = os.path.join(output_dir, f"fold_{fold}") if fold is not None else output_dir
        log(f"evaluating {path} on {name}{'' if fold is None else ' fold ' + fold} ({root})")
        result = evaluate_fold(model, root, splits, name, fold, calibration_split, frame_level,
                               use_saved_calibration, batch_size, fold_dir, apcer=apcer, rule=rule)
        fold_results.append(result)
    root, splits, name, _ = resolved
    record = results_record(fold_results, name, root, splits)
    os.makedirs(output_dir, exist_ok=True)
    record["files"] = {"results": os.path.join(output_dir, "results.json"),
                       "roc_det": os.path.join(output_dir, "roc_det.png")}
    curves = {("all" if r["fold"] is None else f"fold {r['fold']}"): r["_curve"] for r in fold_results}
    viz.roc_det_figure(curves, title=f"{name} ({record['level']} level)", path=record["files"]["roc_det"])
    files.write_json_atomic(record["files"]["results"], record)
    return record, fold_results
