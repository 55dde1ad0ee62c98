"""Presentation attack detection metrics (ISO/IEC 30107-3) as used in the PhySTD paper, Sec. 4.1.

Conventions, the same in every function of this package:
- ``labels``: 1 = attack (presentation attack, spoof), 0 = bona fide (live).
- ``scores``: higher = more likely an attack.
- Decision rule: a sample is classified as an ATTACK when ``score >= threshold``, as bona fide otherwise.
  So ``threshold = -inf`` rejects everything and ``threshold = +inf`` accepts everything.
- ``species``: optional attack species (presentation attack instrument) of each sample, strings or ints;
  only the entries of attack samples are read.
- ``apcer``: which APCER the "apcer" and "acer" keys report. "worst_species" (ISO/IEC 30107-3: the highest
  per-species APCER; OULU-NPU and SiW define their APCER this way) or "pooled" (all attacks one class:
  attacks accepted / attacks; the PhySTD paper's SiW-M tables, Tab. 3 Overall and Tab. 5, use it). The
  worst-species figures are always also returned as "apcer_worst_species" and "acer_worst_species".
- Error rates are fractions in [0, 1]; the tables print them in percent.

Thresholds are chosen on a development (or training) set and applied unchanged to the test set; the
functions that take a ``threshold`` never look at the data to move it.
"""
import dataclasses
import math

import numpy as np

# The FDR at which the PhySTD paper reports its SiW-M "TPR@FNR=.5%" rows (Tab. 3-5).
DEFAULT_FDR = 0.005
# The two readings of APCER over several attack species (module doc).
WORST_SPECIES = "worst_species"
POOLED = "pooled"
APCER_DEFINITIONS = (WORST_SPECIES, POOLED)
# The keys of the dict ``evaluate`` returns (the results schema of physstd.eval.tables, which refuses others).
EVALUATE_KEYS = ("apcer", "bpcer", "acer", "apcer_definition", "apcer_per_species", "apcer_worst_species",
                 "acer_worst_species", "hter", "eer", "auc", "tdr")


@dataclasses.dataclass(frozen=True)
class MeanStd:
    """A mean +- std over folds, as printed in the paper's multi-fold rows; unpacks as ``mean, std``.

    Not a tuple on purpose: json.dumps refuses it instead of writing a 2-list that would read back as two
    fold values (physstd.eval.tables.save_results writes it as {"mean": m, "std": s}).
    """
    mean: float
    std: float

    def __iter__(self):
        return iter((self.mean, self.std))


def _validated(labels, scores):
    """Labels (int 0/1) and scores (float64) as 1-D arrays, or a ValueError saying what is wrong."""
    labels = np.asarray(labels)
    scores = np.asarray(scores, dtype=np.float64)
    if labels.ndim != 1 or scores.ndim != 1:
        raise ValueError(f"labels and scores must be 1-D; got shapes {labels.shape} and {scores.shape}")
    if labels.shape != scores.shape:
        raise ValueError(f"labels and scores differ in length: {labels.shape[0]} vs {scores.shape[0]}")
    if labels.size == 0:
        raise ValueError("labels and scores are empty")
    if not np.isin(labels, (0, 1)).all():
        bad = sorted(set(np.unique(labels).tolist()) - {0, 1})
        raise ValueError(f"labels must be 0 (bona fide) or 1 (attack); found {bad[:5]}")
    if not np.isfinite(scores).all():
        raise ValueError(f"scores must be finite; {int((~np.isfinite(scores)).sum())} are NaN or inf")
    labels = labels.astype(np.int64)
    num_attacks = int(labels.sum())
    if num_attacks == 0 or num_attacks == labels.size:
        only = "attacks" if num_attacks else "bona fide samples"
        raise ValueError(f"need both bona fide and attack samples; got only {labels.size} {only}")
    return labels, scores


def _validated_threshold(threshold):
    threshold = float(threshold)
    if math.isnan(threshold):
        raise ValueError("threshold is NaN")
    return threshold


def _validated_species(species, labels):
    species = np.asarray(species)
    if species.shape != labels.shape:
        raise ValueError(f"species has shape {species.shape}; expected one entry per sample {labels.shape}")
    return species


def _roc(labels, scores):
    """(bpcer, apcer, thresholds) at +inf and at every distinct score, highest first (pooled species)."""
    # sklearn's positive class is the attack and it predicts positive when score >= threshold: our rule.
    from sklearn import metrics as sk_metrics   # 2 s to import; run_train.py --help imports this module

    bpcer, detection_rate, thresholds = sk_metrics.roc_curve(labels, scores, drop_intermediate=False)
    return bpcer, 1.0 - detection_rate, thresholds


def eer(labels, scores):
    """Equal error rate: where APCER (attacks accepted) meets BPCER (bona fide rejected); returns (eer, threshold).

    The ROC is taken as piecewise linear between the operating points at consecutive distinct scores.
    On the first segment where APCER - BPCER changes sign, both rates and the threshold are interpolated
    linearly to the crossing. Where the threshold at the upper end of that segment is +inf (all scores
    tie or the top score is bona fide), the threshold of the lower end is returned.
    """
    labels, scores = _validated(labels, scores)
    bpcer, apcer, thresholds = _roc(labels, scores)
    gap = apcer - bpcer  # non-increasing as the threshold falls: +1 at +inf, -1 at the lowest score
    i = int(np.flatnonzero(gap[1:] <= 0)[0])  # segment [i, i+1] contains the crossing
    step = gap[i] - gap[i + 1]
    t = gap[i] / step if step > 0 else 0.0
    rate = bpcer[i] + t * (bpcer[i + 1] - bpcer[i])
    if np.isinf(thresholds[i]):
        threshold = thresholds[i + 1]
    else:
        threshold = thresholds[i] + t * (thresholds[i + 1] - thresholds[i])
    return float(rate), float(threshold)


def threshold_at_bpcer(labels, scores, bpcer):
    """Lowest threshold that rejects at most a fraction ``bpcer`` of the bona fide samples (BPCER <= target).

    The candidates are the observed scores and +inf; the lowest admissible one detects the most attacks.
    With ties this can reject fewer bona fide than allowed (a tie is never split). Returns +inf when even
    the top score would reject too many bona fide samples.
    """
    labels, scores = _validated(labels, scores)
    return _threshold_at_bpcer(labels, scores, bpcer)


def bpcer_threshold(labels, scores, bpcer):
    """The decision threshold of the BPCER rule on a dev set: BPCER <= ``bpcer`` with the fewest attacks accepted.

    Convention (docs/evaluation.md, "Threshold rules"): the threshold is the lowest dev score t whose decisions
    (attack if score >= t) reject at most a fraction ``bpcer`` of the bona fide samples; no threshold rejects more dev
    samples within that budget, and of the thresholds making the same decisions the stored one is that score, the
    lowest one rejected. A tie is never split: samples of equal score fall on one side, so the dev BPCER can end below
    the target. Where no dev score qualifies (the top score is bona fide and rejecting it alone exceeds the target,
    e.g. fewer than 1 / bpcer bona fide samples), the threshold is the smallest float32 above the top score, so that
    nothing in dev is rejected and a float32 export keeps it above that score. Always finite, unlike
    ``threshold_at_bpcer``.
    """
    labels, scores = _validated(labels, scores)
    threshold = _threshold_at_bpcer(labels, scores, bpcer)
    if np.isinf(threshold):
        top = scores.max()
        above = np.float32(top)
        while above <= top:   # float32 rounding may land at or below the float64 top score
            above = np.nextafter(above, np.float32(np.inf))
        threshold = float(above)
    return threshold


def _threshold_at_bpcer(labels, scores, bpcer):
    bpcer = float(bpcer)
    if not 0.0 <= bpcer <= 1.0:
        raise ValueError(f"bpcer target must lie in [0, 1]; got {bpcer}")
    rejected, _, thresholds = _roc(labels, scores)
    # rejected rises as the threshold falls; thresholds[0] = +inf always qualifies (rejects nothing).
    admissible = np.flatnonzero(rejected <= bpcer + 1e-12)
    return float(thresholds[admissible[-1]])


def apcer_bpcer_acer(labels, scores, threshold, species=None, apcer=WORST_SPECIES):
    """APCER, BPCER and ACER = (APCER + BPCER) / 2 at a fixed threshold.

    APCER of one species = attacks of that species classified bona fide (score < threshold) / attacks of
    that species; without ``species`` all attacks are one species. The reported "apcer" follows ``apcer``
    (module doc): the maximum over species ("worst_species", ISO/IEC 30107-3) or all attacks pooled ("pooled").
    BPCER = bona fide classified as attack (score >= threshold) / bona fide.
    Returns {"apcer", "bpcer", "acer", "apcer_definition", "apcer_per_species": {species: apcer},
    "apcer_worst_species", "acer_worst_species"}.
    """
    labels, scores = _validated(labels, scores)
    threshold = _validated_threshold(threshold)
    if apcer not in APCER_DEFINITIONS:
        raise ValueError(f"unknown APCER definition {apcer!r}; expected one of {', '.join(APCER_DEFINITIONS)}")
    attack = labels == 1
    if species is None:
        species = np.zeros(labels.shape, dtype=np.int64)
    species = _validated_species(species, labels)
    accepted = scores < threshold
    per_species = {}
    for name in np.unique(species[attack]).tolist():
        of_species = attack & (species == name)
        per_species[name] = float(accepted[of_species].mean())
    worst = max(per_species.values())
    bpcer = float((~accepted[~attack]).mean())
    reported = worst if apcer == WORST_SPECIES else float(accepted[attack].mean())
    return {"apcer": reported, "bpcer": bpcer, "acer": (reported + bpcer) / 2.0, "apcer_definition": apcer,
            "apcer_per_species": per_species, "apcer_worst_species": worst,
            "acer_worst_species": (worst + bpcer) / 2.0}


def hter(labels, scores, threshold):
    """Half total error rate (FAR + FRR) / 2 at a threshold fixed elsewhere (on the development set).

    In FAS usage (Replay-Attack, CASIA-FASD cross tests) FAR = attacks accepted as bona fide (all species
    pooled) and FRR = bona fide rejected, so HTER is the ACER of a single pooled attack species.
    """
    return apcer_bpcer_acer(labels, scores, threshold, apcer=POOLED)["acer"]


def auc(labels, scores):
    """Area under the ROC curve: the probability that an attack scores above a bona fide sample (ties 1/2)."""
    labels, scores = _validated(labels, scores)
    from sklearn import metrics as sk_metrics   # 2 s to import; run_train.py --help imports this module

    return float(sk_metrics.roc_auc_score(labels, scores))


def tdr_at_fdr(labels, scores, fdr=DEFAULT_FDR):
    """True detection rate at a false detection rate: attacks detected at ``threshold_at_bpcer(fdr)``.

    FDR = fraction of bona fide samples detected as attacks (= BPCER) and TDR = fraction of attacks
    detected (= 1 - APCER with species pooled), both at the lowest threshold whose FDR is at most ``fdr``.
    This is the quantity the PhySTD paper prints as "TPR@FNR=.5%" in the SiW-M tables (Tab. 3-5), with fdr=0.005.
    """
    labels, scores = _validated(labels, scores)
    threshold = _threshold_at_bpcer(labels, scores, fdr)
    return float((scores[labels == 1] >= threshold).mean())


def evaluate(labels, scores, threshold, species=None, fdr=DEFAULT_FDR, apcer=WORST_SPECIES):
    """All metrics of one test set at a dev-chosen ``threshold``: the schema the tables read.

    Returns the keys of ``apcer_bpcer_acer`` (``apcer`` picks which APCER "apcer" and "acer" report) and
    "hter", "eer", "auc", "tdr"; "eer", "auc" and "tdr" do not depend on ``threshold``.
    """
    result = apcer_bpcer_acer(labels, scores, threshold, species, apcer)
    result["hter"] = hter(labels, scores, threshold)
    result["eer"] = eer(labels, scores)[0]
    result["auc"] = auc(labels, scores)
    result["tdr"] = tdr_at_fdr(labels, scores, fdr)
    return result


def evaluate_per_species(labels, scores, species, threshold, fdr=DEFAULT_FDR, apcer=WORST_SPECIES):
    """``evaluate`` on all bona fide samples plus the attacks of one species, for each species.

    This gives the per-type columns of the PhySTD paper's Tab. 3 (SiW-M protocol I): each type is scored against
    the whole bona fide test set, at the same threshold (one species: both APCER readings agree).
    """
    labels, scores = _validated(labels, scores)
    species = _validated_species(species, labels)
    bona_fide = labels == 0
    results = {}
    for name in np.unique(species[labels == 1]).tolist():
        keep = bona_fide | ((labels == 1) & (species == name))
        results[name] = evaluate(labels[keep], scores[keep], threshold, fdr=fdr, apcer=apcer)
    return results


def mean_std(values):
    """Mean and SAMPLE standard deviation (ddof=1) over folds, as a ``MeanStd``.

    ddof=1 is what reproduces the paper's own "mean +- std" entries from their per-fold columns (e.g.
    PhySTD paper, Tab. 4 ACER 11.5 +- 13.2 and Tab. 5 TDR 81.6 +- 9.2; np.std's default ddof=0 gives 12.7
    and 8.8); tests/test_metrics.py checks this on the transcribed tables. Needs at least two values.
    """
    values = np.asarray(values, dtype=np.float64)
    if values.ndim != 1 or values.size < 2:
        raise ValueError(f"mean_std needs a 1-D list of at least two fold values; got shape {values.shape}")
    if not np.isfinite(values).all():
        raise ValueError(f"mean_std got a NaN or inf fold value: {values.tolist()}")
    return MeanStd(float(values.mean()), float(values.std(ddof=1)))
