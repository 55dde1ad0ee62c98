import numpy as np
import pytest
from scipy import stats

from physstd.eval import metrics, published

# Hand-made test set: four bona fide and four attacks; 0.5 ties a bona fide and an attack.
LABELS = [0, 0, 0, 0, 1, 1, 1, 1]
SCORES = [0.1, 0.4, 0.5, 0.7, 0.5, 0.6, 0.3, 0.9]
SPECIES = ["live", "live", "live", "live", "print", "print", "replay", "replay"]


def test_apcer_bpcer_acer_by_hand_with_a_tie_at_the_threshold():
    # Attack iff score >= 0.5: bona fide 0.5 and 0.7 are rejected (2/4); attack 0.3 is accepted (1/4).
    result = metrics.apcer_bpcer_acer(LABELS, SCORES, 0.5)
    assert result["bpcer"] == 0.5
    assert result["apcer"] == 0.25
    assert result["acer"] == 0.375
    assert result["apcer_per_species"] == {0: 0.25}
    assert metrics.hter(LABELS, SCORES, 0.5) == 0.375


def test_apcer_is_the_worst_species():
    # print: 0.5 and 0.6 both detected (APCER 0); replay: 0.3 accepted, 0.9 detected (APCER 1/2).
    result = metrics.apcer_bpcer_acer(LABELS, SCORES, 0.5, species=SPECIES)
    assert result["apcer_per_species"] == {"print": 0.0, "replay": 0.5}
    assert result["apcer"] == 0.5
    assert result["acer"] == 0.5
    # HTER pools the species, so it keeps the pooled APCER of 1/4.
    assert metrics.hter(LABELS, SCORES, 0.5) == 0.375
    ints = metrics.apcer_bpcer_acer(LABELS, SCORES, 0.5, species=[0, 0, 0, 0, 2, 2, 1, 1])
    assert ints["apcer_per_species"] == {1: 0.5, 2: 0.0}


def test_pooled_and_worst_species_apcer_on_the_siwm_case():
    # 13 SiW-M species with 10 attacks each; cosmetic is accepted in 5 of its 10 (score below the threshold 0.5),
    # the twelve others never; no bona fide sample is rejected (BPCER 0).
    from physstd.data.spoof_types import SIWM_TYPES

    labels, scores, species = [0] * 20, list(np.linspace(0.0, 0.4, 20)), ["live"] * 20
    for name in SIWM_TYPES:
        labels += [1] * 10
        scores += [0.2] * 5 + [0.8] * 5 if name == "cosmetic" else [0.9] * 10
        species += [name] * 10
    pooled = metrics.evaluate(labels, scores, 0.5, species, apcer=metrics.POOLED)
    worst = metrics.evaluate(labels, scores, 0.5, species)
    # Pooled (PhySTD paper, Tab. 3 Overall): APCER = 5 / 130, ACER = (5/130 + 0) / 2 = 1/52, about 0.02.
    assert pooled["apcer"] == pytest.approx(5 / 130) and pooled["acer"] == pytest.approx(1 / 52)
    assert pooled["apcer_definition"] == "pooled" and pooled["hter"] == pytest.approx(1 / 52)
    # ISO/IEC 30107-3 worst species: APCER = cosmetic's 5/10, ACER = (1/2 + 0) / 2 = 1/4; kept in its own fields.
    assert pooled["apcer_worst_species"] == 0.5 and pooled["acer_worst_species"] == 0.25
    assert (worst["apcer"], worst["acer"], worst["apcer_definition"]) == (0.5, 0.25, "worst_species")
    assert worst["apcer_worst_species"] == 0.5 and worst["acer_worst_species"] == 0.25
    assert pooled["apcer_per_species"] == worst["apcer_per_species"] == {
        name: (0.5 if name == "cosmetic" else 0.0) for name in SIWM_TYPES}
    with pytest.raises(ValueError, match="unknown APCER definition"):
        metrics.evaluate(labels, scores, 0.5, species, apcer="mean")


def test_extreme_thresholds():
    assert metrics.apcer_bpcer_acer(LABELS, SCORES, np.inf)["apcer"] == 1.0
    assert metrics.apcer_bpcer_acer(LABELS, SCORES, np.inf)["bpcer"] == 0.0
    assert metrics.apcer_bpcer_acer(LABELS, SCORES, -np.inf)["bpcer"] == 1.0


def test_threshold_from_dev_applied_to_test():
    dev_labels = [0, 0, 0, 0, 1, 1, 1, 1]
    dev_scores = [0.0, 1.0, 2.0, 3.0, 2.5, 3.5, 4.0, 5.0]
    # At t = 3: bona fide >= 3 is {3} (1/4), attacks < 3 is {2.5} (1/4): the two rates meet at 0.25.
    rate, threshold = metrics.eer(dev_labels, dev_scores)
    assert (rate, threshold) == (0.25, 3.0)
    test_labels = [0, 0, 0, 0, 1, 1, 1, 1]
    test_scores = [2.9, 3.0, 1.0, 3.5, 3.0, 2.0, 4.0, 3.2]
    # Bona fide >= 3: 3.0, 3.5 (2/4); attacks < 3: 2.0 (1/4).
    result = metrics.evaluate(test_labels, test_scores, threshold)
    assert result["bpcer"] == 0.5 and result["apcer"] == 0.25 and result["acer"] == 0.375
    assert result["hter"] == 0.375
    # The test set's own EER threshold is elsewhere (between 3.0 and 3.2): the dev one was not moved.
    assert metrics.eer(test_labels, test_scores)[1] != threshold


def test_eer_on_interleaved_integers():
    # Bona fide 0..9, attacks 5..14. At t=8: BPCER 2/10, APCER 3/10; at t=7: 3/10 and 2/10 -> 0.25 at 7.5.
    labels = [0] * 10 + [1] * 10
    scores = list(range(10)) + list(range(5, 15))
    rate, threshold = metrics.eer(labels, scores)
    assert rate == pytest.approx(0.25)
    assert threshold == pytest.approx(7.5)


@pytest.mark.parametrize("bona_fide, attack, expected_eer, expected_threshold", [
    # Quantile grids of N(0,1) vs N(2,1): the rates meet at t=1 where Phi(-1) = 0.1587.
    (stats.norm.ppf((np.arange(4000) + 0.5) / 4000), 2 + stats.norm.ppf((np.arange(4000) + 0.5) / 4000),
     stats.norm.cdf(-1.0), 1.0),
    # U(0,1) vs U(0.5,1.5): they meet at t=0.75 with both rates 0.25.
    ((np.arange(4000) + 0.5) / 4000, 0.5 + (np.arange(4000) + 0.5) / 4000, 0.25, 0.75),
])
def test_eer_matches_the_analytic_crossing(bona_fide, attack, expected_eer, expected_threshold):
    labels = np.r_[np.zeros(bona_fide.size), np.ones(attack.size)]
    rate, threshold = metrics.eer(labels, np.r_[bona_fide, attack])
    assert rate == pytest.approx(expected_eer, abs=1e-3)
    assert threshold == pytest.approx(expected_threshold, abs=2e-3)


def test_eer_edge_cases():
    assert metrics.eer([0, 0, 1, 1], [0.3, 0.3, 0.3, 0.3]) == (0.5, 0.3)  # one tie: no information
    rate, threshold = metrics.eer([0, 0, 1, 1], [0.0, 1.0, 2.0, 3.0])  # separable
    assert rate == 0.0
    assert 1.0 < threshold <= 2.0
    assert metrics.eer([0, 0, 1, 1], [2.0, 3.0, 0.0, 1.0])[0] == 1.0  # perfectly inverted


def _brute_force_tdr(labels, scores, fdr):
    bona_fide, attacks = scores[labels == 0], scores[labels == 1]
    allowed = np.floor(fdr * bona_fide.size + 1e-9)  # false detections allowed
    best, best_threshold = 0.0, np.inf
    for threshold in np.r_[np.unique(scores), np.inf]:
        if (bona_fide >= threshold).sum() <= allowed:
            tdr = (attacks >= threshold).mean()
            if tdr > best or (tdr == best and threshold < best_threshold):
                best, best_threshold = tdr, threshold
    return best, best_threshold


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("fdr", [0.0, 0.005, 0.05, 0.2, 1.0])
def test_tdr_at_fdr_matches_brute_force(seed, fdr):
    rng = np.random.default_rng(seed)
    labels = rng.permutation(np.r_[np.zeros(200, int), np.ones(57, int)])
    scores = np.round(rng.normal(labels * 1.5, 1.0), 1)  # rounding makes ties
    expected_tdr, expected_threshold = _brute_force_tdr(labels, scores, fdr)
    assert metrics.tdr_at_fdr(labels, scores, fdr) == pytest.approx(expected_tdr)
    threshold = metrics.threshold_at_bpcer(labels, scores, fdr)
    assert metrics.apcer_bpcer_acer(labels, scores, threshold)["bpcer"] <= fdr
    # Lowest admissible: the next lower observed score would reject too many bona fide.
    lower = scores[scores < threshold]
    if lower.size:
        assert metrics.apcer_bpcer_acer(labels, scores, lower.max())["bpcer"] > fdr
    if expected_tdr > 0:
        assert threshold == expected_threshold


def test_tdr_by_hand():
    # 200 bona fide at 0..199 and attacks at 197.5, 198.5, 300: FDR 0.5% allows one false detection (199),
    # so the lowest threshold is 198.5 (bona fide 199 rejected) and two of three attacks are detected.
    labels = [0] * 200 + [1] * 3
    scores = list(range(200)) + [197.5, 198.5, 300.0]
    assert metrics.threshold_at_bpcer(labels, scores, 0.005) == 198.5
    assert metrics.tdr_at_fdr(labels, scores) == pytest.approx(2 / 3)
    assert metrics.tdr_at_fdr(labels, scores, 0.0) == pytest.approx(1 / 3)


def test_auc_against_pairwise_count():
    rng = np.random.default_rng(3)
    labels = rng.integers(0, 2, 300)
    scores = np.round(rng.normal(labels, 1.0), 1)
    attacks, bona_fide = scores[labels == 1][:, None], scores[labels == 0][None, :]
    expected = ((attacks > bona_fide) + 0.5 * (attacks == bona_fide)).mean()
    assert metrics.auc(labels, scores) == pytest.approx(expected)


def test_evaluate_per_species_scores_each_type_against_all_bona_fide():
    result = metrics.evaluate_per_species(LABELS, SCORES, SPECIES, threshold=0.5)
    assert set(result) == {"print", "replay"}
    replay = result["replay"]
    keep = np.array([0, 1, 2, 3, 6, 7])
    assert replay["eer"] == metrics.eer(np.array(LABELS)[keep], np.array(SCORES)[keep])[0]
    assert replay["bpcer"] == 0.5 and replay["apcer"] == 0.5
    assert result["print"]["apcer"] == 0.0


DEGENERATE = [
    ([0, 0, 0], [0.1, 0.2, 0.3], "both bona fide and attack"),
    ([1, 1], [0.1, 0.2], "both bona fide and attack"),
    ([0, 1], [0.1, np.nan], "finite"),
    ([0, 1], [np.inf, 0.2], "finite"),
    ([0, 1, 1], [0.1, 0.2], "differ in length"),
    ([], [], "empty"),
    ([0, 2], [0.1, 0.2], "0 \\(bona fide\\) or 1"),
]


@pytest.mark.parametrize("labels, scores, message", DEGENERATE)
@pytest.mark.parametrize("function", [
    metrics.eer, metrics.auc, metrics.tdr_at_fdr,
    lambda labels, scores: metrics.threshold_at_bpcer(labels, scores, 0.1),
    lambda labels, scores: metrics.apcer_bpcer_acer(labels, scores, 0.5),
    lambda labels, scores: metrics.hter(labels, scores, 0.5),
])
def test_degenerate_inputs_raise(function, labels, scores, message):
    with pytest.raises(ValueError, match=message):
        function(labels, scores)


def test_bad_threshold_species_and_target_raise():
    with pytest.raises(ValueError, match="threshold is NaN"):
        metrics.apcer_bpcer_acer(LABELS, SCORES, np.nan)
    with pytest.raises(ValueError, match="species"):
        metrics.apcer_bpcer_acer(LABELS, SCORES, 0.5, species=["print"] * 3)
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        metrics.threshold_at_bpcer(LABELS, SCORES, 1.5)


def test_mean_std_is_the_sample_std():
    result = metrics.mean_std([1.0, 2.0, 3.0, 4.0])
    assert result.mean == 2.5
    assert result.std == pytest.approx(np.sqrt(5.0 / 3.0))
    with pytest.raises(ValueError, match="at least two"):
        metrics.mean_std([1.0])
    with pytest.raises(ValueError, match="NaN"):
        metrics.mean_std([1.0, np.nan])


# Published rows whose printed Overall equals the statistics of their own per-type columns.
CONSISTENT_ROWS = [("siwm_p2", "PhySTD", m) for m in ("apcer", "acer", "eer")] + \
                  [("siwm_p2", "STDN", m) for m in ("apcer", "bpcer", "acer", "eer", "tdr")] + \
                  [("siwm_p3", "PhySTD", m) for m in ("acer", "eer")] + \
                  [("siwm_p3", "Auxiliary", m) for m in ("acer", "eer", "tdr")] + \
                  [("siwm_p2", "Auxiliary", m) for m in ("apcer", "bpcer", "acer", "eer")] + \
                  [("cross_type_auc", method, "auc") for method in ("PhySTD", "CDCN")]


@pytest.mark.parametrize("table, method, metric", CONSISTENT_ROWS)
def test_sample_std_reproduces_the_papers_mean_std(table, method, metric):
    rows = published.PUBLISHED[table][method]
    values = [cells[metric] for entry, cells in rows.items() if entry != "overall"]
    printed = rows["overall"][metric]
    computed = metrics.mean_std(values)
    # Per-type values are rounded to 0.1, so the mean may move by 0.05 and the std by a little more.
    assert computed.mean == pytest.approx(printed.mean, abs=0.06)
    assert computed.std == pytest.approx(printed.std, abs=0.1)


def test_population_std_would_not_reproduce_the_paper():
    values = [c["acer"] for e, c in published.PUBLISHED["siwm_p2"]["PhySTD"].items() if e != "overall"]
    assert abs(np.std(values) - 13.2) > 0.4  # ddof=0 gives 12.7
