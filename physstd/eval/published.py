"""Published numbers, in percent exactly as printed, for printing next to ours (physstd.eval.tables).

The papers are named as in docs/references.md: PhySTD (TPAMI), STDN+ (its arXiv version, same method),
De-Spoof (ECCV 2018); a table without a paper's name is PhySTD's. For each table we keep the proposed method
("PhySTD"), the preliminary STDN (ECCV 2020, printed "STDN [31]" or "SDTN [31]") where the table has it, and
the two baselines this project also trains wherever a table prints them: "Auxiliary" (Auxiliary [18], the
depth CNN PhySTD's ablation starts from) and "DeSpoof" (DeSpoof [24], the De-Spoof paper). CDCN [57] stands
in for the cross-type table, which has none of these. Tab. 3 also gets its ablation rows ("Step1",
"Step1+Step2 w/ single trace", "Step1+Step2"), the configurations flags/siwm_p1_step1, siwm_p1_step12_single
and siwm_p1_step12 train. The De-Spoof paper's own OULU-NPU table (its Tab. 4, "Ours" and "Auxiliary[18]"
rows) prints exactly the values PhySTD's Tab. 1 copies, so one row serves both references.

LGSC ("Learning Generalized Spoof Cues for Face Anti-spoofing", Feng et al. 2020) adds its "Ours" rows as "LGSC":
its Tab. 2 (OULU-NPU), Tab. 1 (SiW), Tab. 3 (CASIA-FASD <-> Replay-Attack HTER) and Tab. 4 (SiW -> OULU-NPU
ACER, with its "Auxiliary [22]" row, the one place that row is printed), and its Tab. 5 ablations on OULU-NPU
protocol 1 as "LGSC <ablation>" rows (entry "1" only). Its other Auxiliary rows print the same values (Tab. 1 to two
decimals), so the Auxiliary rows above serve it too.

The Multi-Modal Disentanglement paper ("Learning Polysemantic Spoof Trace: A Multi-Modal Disentanglement Network for
Face Anti-spoofing", Li et al. 2023) gives the RGB-D tables: WMCA grandtest (its Tab. 1 "Ours" and the Tab. 4
ablations as "<name>: <ablation>" rows), WMCA leave-one-out (Tab. 2 "Ours" and "Auxiliary(Depth)", kept as
"Auxiliary"; Tab. 5's loss ablations as Overall-only rows, printed when named) and CeFA protocols 1, 2, 4 (Tab. 3).

Where a paper prints no value (Auxiliary has no TPR row in PhySTD's Tab. 3 and 4) the metric is left out
and prints as a dash. A "+-" entry is a MeanStd as printed; where the paper's numbers disagree with each
other (PhySTD's Tab. 4 BPCER and TDR of PhySTD, Tab. 5 TDR mean of PhySTD: mean +- std not the statistics
of the per-type columns; Tab. 1 P3 of DeSpoof: ACER 3.6 is not the mean of APCER 4.0 and BPCER 3.8), the
printed value is kept.

Keys follow the schema of physstd.eval.tables: {table: {method: {entry: {metric: value}}}}, with SiW-M
entries named as in physstd.data.spoof_types.SIWM_TYPES (the papers' column order).
"""
from physstd.data.spoof_types import SIWM_TYPES
from physstd.eval.metrics import MeanStd as _MS


def _by_column(columns, **rows):
    """{column: {metric: value}} from one printed row per metric, each a value per column in ``columns`` order,
    then the overall."""
    entries = {}
    for metric, values in rows.items():
        if len(values) != len(columns) + 1:
            raise ValueError(f"{metric}: {len(values)} values, expected {len(columns)} columns + overall")
        for entry, value in zip(columns + ("overall",), values):
            entries.setdefault(entry, {})[metric] = value
    return entries


def _by_type(**rows):
    """{type: {metric: value}} from one list per metric, each list = 13 types in SIWM_TYPES order + overall."""
    return _by_column(SIWM_TYPES, **rows)


# The Multi-Modal Disentanglement paper never abbreviates its method's name: its rows carry the title's words.
MMDN = "Multi-Modal Disentanglement Network"
# WMCA's leave-one-out folds (physstd.data.protocols.WMCA_LOO_CATEGORIES) in that paper's Tab. 2 column order.
WMCA_LOO_ORDER = ("flexiblemask", "replay", "fakehead", "prints", "glasses", "papermask", "rigidmask")

PUBLISHED = {
    "oulu": {  # PhySTD paper, Tab. 1: OULU-NPU protocols 1-4
        "PhySTD": {
            "1": {"apcer": 0.0, "bpcer": 0.8, "acer": 0.4},  # Tab. 1 P1 "Ours"
            "2": {"apcer": 1.2, "bpcer": 1.3, "acer": 1.3},  # Tab. 1 P2 "Ours"
            "3": {"apcer": _MS(1.7, 1.4), "bpcer": _MS(2.2, 3.5), "acer": _MS(1.9, 2.3)},  # Tab. 1 P3 "Ours"
            "4": {"apcer": _MS(2.3, 3.6), "bpcer": _MS(4.2, 5.4), "acer": _MS(3.6, 4.2)},  # Tab. 1 P4 "Ours"
        },
        "STDN": {
            "1": {"apcer": 0.8, "bpcer": 1.3, "acer": 1.1},  # Tab. 1 P1 "STDN [31]"
            "2": {"apcer": 2.3, "bpcer": 1.6, "acer": 1.9},  # Tab. 1 P2 "STDN [31]"
            "3": {"apcer": _MS(1.6, 1.6), "bpcer": _MS(4.0, 5.4), "acer": _MS(2.8, 3.3)},  # Tab. 1 P3
            "4": {"apcer": _MS(2.3, 3.6), "bpcer": _MS(5.2, 5.4), "acer": _MS(3.8, 4.2)},  # Tab. 1 P4
        },
        "Auxiliary": {  # Tab. 1 "Auxiliary [18]" (= De-Spoof paper, Tab. 4 "Auxiliary[18]")
            "1": {"apcer": 1.6, "bpcer": 1.6, "acer": 1.6},  # Tab. 1 P1
            "2": {"apcer": 2.7, "bpcer": 2.7, "acer": 2.7},  # Tab. 1 P2
            "3": {"apcer": _MS(2.7, 1.3), "bpcer": _MS(3.1, 1.7), "acer": _MS(2.9, 1.5)},  # Tab. 1 P3
            "4": {"apcer": _MS(9.3, 5.6), "bpcer": _MS(10.4, 6.0), "acer": _MS(9.5, 6.0)},  # Tab. 1 P4
        },
        "DeSpoof": {  # Tab. 1 "DeSpoof [24]" (= De-Spoof paper, Tab. 4 "Ours")
            "1": {"apcer": 1.2, "bpcer": 1.7, "acer": 1.5},  # Tab. 1 P1
            "2": {"apcer": 4.2, "bpcer": 4.4, "acer": 4.3},  # Tab. 1 P2
            "3": {"apcer": _MS(4.0, 1.8), "bpcer": _MS(3.8, 1.2), "acer": _MS(3.6, 1.6)},  # Tab. 1 P3
            "4": {"apcer": _MS(5.1, 6.3), "bpcer": _MS(6.1, 5.1), "acer": _MS(5.6, 5.7)},  # Tab. 1 P4
        },
        "LGSC": {  # LGSC paper Tab. 2 "Ours"
            "1": {"apcer": 0.8, "bpcer": 0.0, "acer": 0.4},  # LGSC Tab. 2 P1
            "2": {"apcer": 0.8, "bpcer": 0.6, "acer": 0.7},  # LGSC Tab. 2 P2
            "3": {"apcer": _MS(1.5, 1.4), "bpcer": _MS(1.9, 1.9), "acer": _MS(1.7, 1.6)},  # LGSC Tab. 2 P3
            "4": {"apcer": _MS(5.8, 4.9), "bpcer": _MS(1.7, 2.6), "acer": _MS(3.7, 2.1)},  # LGSC Tab. 2 P4
        },
        # LGSC paper, Tab. 5: its ablations on protocol 1 (flags/lgsc_oulu_p1_<ablation>.flags train them).
        "LGSC resized input": {"1": {"apcer": 2.1, "bpcer": 3.3, "acer": 2.7}},
        "LGSC w/o triplet": {"1": {"apcer": 1.7, "bpcer": 3.3, "acer": 2.5}},
        "LGSC triplet E5-SC": {"1": {"apcer": 0.2, "bpcer": 4.2, "acer": 2.3}},
        "LGSC w/o classifier": {"1": {"apcer": 2.5, "bpcer": 0.8, "acer": 1.7}},
        "LGSC RL live+spoof": {"1": {"apcer": 0.8, "bpcer": 2.5, "acer": 1.7}},
        "LGSC classifier on C": {"1": {"apcer": 1.7, "bpcer": 0.0, "acer": 0.8}},
    },
    "siw": {  # PhySTD paper, Tab. 2: SiW protocols 1-3
        "PhySTD": {
            "1": {"apcer": 0.0, "bpcer": 0.0, "acer": 0.0},  # Tab. 2 P1 "Ours"
            "2": {"apcer": _MS(0.0, 0.0), "bpcer": _MS(0.0, 0.0), "acer": _MS(0.0, 0.0)},  # Tab. 2 P2 "Ours"
            "3": {"apcer": _MS(13.1, 9.4), "bpcer": _MS(1.6, 0.6), "acer": _MS(7.4, 4.3)},  # Tab. 2 P3 "Ours"
        },
        "Auxiliary": {
            "1": {"apcer": 3.6, "bpcer": 3.6, "acer": 3.6},  # Tab. 2 P1 "Auxiliary [18]"
            "2": {"apcer": _MS(0.6, 0.7), "bpcer": _MS(0.6, 0.7), "acer": _MS(0.6, 0.7)},  # Tab. 2 P2
            "3": {"apcer": _MS(8.3, 3.8), "bpcer": _MS(8.3, 3.8), "acer": _MS(8.3, 3.8)},  # Tab. 2 P3
        },
        "LGSC": {  # LGSC paper Tab. 1 "Ours", printed to two decimals (tables --decimals=2 shows them so)
            "1": {"apcer": 0.00, "bpcer": 0.50, "acer": 0.25},  # LGSC Tab. 1 P1
            "2": {"apcer": _MS(0.00, 0.00), "bpcer": _MS(0.00, 0.00), "acer": _MS(0.00, 0.00)},  # LGSC Tab. 1 P2
            "3": {"apcer": _MS(1.61, 1.69), "bpcer": _MS(0.77, 1.09), "acer": _MS(1.19, 1.39)},  # LGSC Tab. 1 P3
        },
    },
    "siwm_p1": {  # PhySTD paper, Tab. 3: SiW-M protocol I (known types); Overall is one value, not mean +- std
        "PhySTD": _by_type(  # Tab. 3 "Step1+Step2+Step3 (Ours)"
            acer=[3.2, 1.4, 1.0, 2.3, 1.3, 2.9, 2.5, 12.4, 1.2, 18.5, 1.7, 0.4, 1.6, 2.8],
            eer=[2.5, 1.0, 0.0, 2.1, 1.0, 1.9, 2.2, 8.2, 0.0, 18.5, 0.8, 0.0, 0.4, 2.5],
            tdr=[85.7, 85.4, 100, 76.6, 96.3, 80.2, 93.8, 41.1, 100, 55.8, 98.1, 100, 99.8, 91.2],
        ),
        "STDN": _by_type(  # Tab. 3 "SDTN [31]"
            acer=[3.2, 3.1, 3.0, 9.0, 3.0, 3.4, 4.7, 3.0, 3.0, 24.5, 4.1, 3.7, 3.0, 4.1],
            eer=[2.1, 2.2, 0.0, 7.2, 0.1, 3.9, 4.8, 0.0, 0.0, 19.6, 5.3, 5.4, 0.0, 4.8],
            tdr=[90.1, 76.1, 80.7, 71.5, 62.3, 74.4, 85.0, 100, 100, 33.8, 49.6, 30.6, 97.7, 70.4],
        ),
        "Auxiliary": _by_type(  # Tab. 3 "Auxiliary [18]" (no TPR row printed)
            acer=[5.1, 5.0, 5.0, 10.2, 5.0, 9.8, 6.3, 19.6, 5.0, 26.5, 5.5, 5.2, 5.0, 6.3],
            eer=[4.7, 0.0, 1.6, 10.5, 4.6, 10.0, 6.4, 12.7, 0.0, 19.6, 9.3, 7.5, 0.0, 6.7],
        ),
        # Tab. 3's ablation rows (flags/siwm_p1_step1, _step12_single, _step12 train them).
        "Step1": _by_type(  # Tab. 3 "Step1"
            acer=[6.1, 5.4, 5.4, 5.4, 5.4, 5.4, 5.4, 22.7, 5.4, 26.8, 5.4, 5.5, 5.4, 10.9],
            eer=[3.8, 2.7, 1.5, 2.7, 1.9, 1.8, 2.4, 15.1, 0.7, 28.7, 4.1, 4.9, 1.0, 4.3],
            tdr=[43.8, 43.3, 47.2, 44.5, 62.9, 54.8, 55.4, 16.7, 90.6, 31.5, 60.3, 56.7, 77.1, 59.3],
        ),
        "Step1+Step2 w/ single trace": _by_type(  # Tab. 3 "Step1+Step2 w/ single trace"
            acer=[8.7, 7.8, 7.8, 7.8, 7.8, 7.8, 7.8, 25.0, 7.9, 28.8, 7.8, 7.8, 7.8, 13.8],
            eer=[6.7, 5.3, 0.8, 1.5, 1.4, 3.3, 3.2, 21.5, 1.0, 27.1, 6.5, 6.1, 1.5, 5.8],
            tdr=[58.9, 76.8, 97.6, 94.2, 94.9, 66.3, 78.3, 13.3, 94.1, 49.1, 62.4, 58.5, 92.1, 74.8],
        ),
        "Step1+Step2": _by_type(  # Tab. 3 "Step1+Step2"
            acer=[4.1, 3.9, 3.9, 3.9, 4.0, 3.9, 4.0, 13.5, 4.0, 25.1, 3.9, 3.9, 3.9, 4.6],
            eer=[2.4, 3.1, 0.4, 2.6, 1.2, 3.0, 2.4, 9.5, 0.4, 23.5, 1.1, 0.5, 0.6, 2.8],
            tdr=[84.7, 74.7, 100, 70.1, 96.6, 77.5, 89.6, 36.9, 100, 40.1, 96.3, 99.4, 99.4, 89.7],
        ),
    },
    "siwm_p2": {  # PhySTD paper, Tab. 4: SiW-M protocol II (leave one type out); column = the left-out type
        "PhySTD": _by_type(  # Tab. 4 "Ours"
            apcer=[10.0, 4.9, 5.3, 16.7, 3.5, 2.0, 2.8, 92.8, 0.0, 37.5, 33.7, 23.2, 0.2, _MS(17.9, 25.8)],
            bpcer=[3.8, 6.3, 4.4, 5.5, 11.3, 3.5, 6.0, 6.6, 1.8, 2.7, 6.5, 8.0, 1.1, _MS(5.7, 2.8)],
            acer=[6.9, 5.6, 4.8, 11.1, 7.4, 2.7, 4.4, 49.7, 0.9, 20.1, 20.1, 15.6, 0.6, _MS(11.5, 13.2)],
            eer=[5.2, 4.4, 4.4, 10.1, 8.6, 2.6, 4.3, 47.2, 0.0, 19.6, 18.6, 12.4, 0.7, _MS(10.6, 12.6)],
            tdr=[55.1, 46.4, 57.3, 65.1, 33.0, 91.7, 76.7, 0.0, 100.0, 46.4, 31.8, 15.4, 97.7, _MS(53.7, 31.8)],
        ),
        "STDN": _by_type(  # Tab. 4 "SDTN [31]"
            apcer=[1.6, 0.0, 0.5, 7.2, 9.7, 0.5, 0.0, 96.1, 0.0, 21.8, 14.4, 6.5, 0.0, _MS(12.2, 26.1)],
            bpcer=[14.0, 14.6, 13.6, 18.6, 18.1, 8.1, 13.4, 10.3, 9.2, 17.2, 27.0, 35.5, 11.2, _MS(16.2, 7.6)],
            acer=[7.8, 7.3, 7.1, 12.9, 13.9, 4.3, 6.7, 53.2, 4.6, 19.5, 20.7, 21.0, 5.6, _MS(14.2, 13.2)],
            eer=[7.6, 3.8, 8.4, 13.8, 14.5, 5.3, 4.4, 35.4, 0.0, 19.3, 21.0, 20.8, 1.6, _MS(12.0, 10.0)],
            tdr=[45.0, 40.5, 45.7, 36.7, 11.7, 40.9, 74.0, 0.0, 67.5, 16.0, 13.4, 9.4, 62.8, _MS(35.7, 23.9)],
        ),
        "Auxiliary": _by_type(  # Tab. 4 "Auxiliary [18]" (no TPR row printed)
            apcer=[23.7, 7.3, 27.7, 18.2, 97.8, 8.3, 16.2, 100.0, 18.0, 16.3, 91.8, 72.2, 0.4, _MS(38.3, 37.4)],
            bpcer=[10.1, 6.5, 10.9, 11.6, 6.2, 7.8, 9.3, 11.6, 9.3, 7.1, 6.2, 8.8, 10.3, _MS(8.9, 2.0)],
            acer=[16.8, 6.9, 19.3, 14.9, 52.1, 8.0, 12.8, 55.8, 13.7, 11.7, 49.0, 40.5, 5.3, _MS(23.6, 18.5)],
            eer=[14.0, 4.3, 11.6, 12.4, 24.6, 7.8, 10.0, 72.3, 10.1, 9.4, 21.4, 18.6, 4.0, _MS(17.0, 17.7)],
        ),
    },
    "siwm_p3": {  # PhySTD paper, Tab. 5: SiW-M protocol III (open set); column = the type held out of training
        "PhySTD": _by_type(  # Tab. 5 "Ours"
            acer=[4.7, 3.5, 3.4, 3.3, 6.4, 2.6, 3.8, 7.0, 2.3, 3.2, 10.7, 7.3, 3.2, _MS(4.7, 2.4)],
            eer=[4.1, 2.8, 3.4, 3.1, 5.6, 3.6, 3.0, 6.7, 2.2, 3.4, 10.2, 8.6, 2.2, _MS(4.5, 2.5)],
            tdr=[87.4, 78.7, 81.0, 84.5, 69.0, 86.3, 84.7, 85.0, 91.0, 89.3, 66.6, 64.4, 91.1, _MS(81.6, 9.2)],
        ),
        "Auxiliary": _by_type(  # Tab. 5 "Auxiliary [18]"
            acer=[6.7, 5.6, 8.5, 7.5, 11.6, 6.7, 6.4, 8.9, 5.7, 6.1, 14.3, 15.9, 5.4, _MS(8.4, 3.4)],
            eer=[6.4, 5.6, 7.7, 6.5, 10.3, 6.1, 6.1, 8.4, 5.1, 6.3, 15.3, 13.1, 5.7, _MS(7.9, 3.2)],
            tdr=[60.4, 65.5, 64.4, 70.4, 47.5, 67.0, 71.6, 64.3, 75.1, 69.8, 45.8, 47.8, 62.9, _MS(62.5, 9.7)],
        ),
    },
    "siw_to_oulu": {  # LGSC paper, Tab. 4: trained on SiW, ACER on OULU-NPU protocols 1-4 (P3, P4 over 6 folds)
        "LGSC": {"1": {"acer": 6.5}, "2": {"acer": 11.4}, "3": {"acer": _MS(9.9, 8.2)},
                 "4": {"acer": _MS(6.7, 6.6)}},  # LGSC Tab. 4 "Ours"
        "Auxiliary": {"1": {"acer": 10.0}, "2": {"acer": 14.1}, "3": {"acer": _MS(13.8, 5.7)},
                      "4": {"acer": _MS(10.0, 8.8)}},  # LGSC Tab. 4 "Auxiliary [22]"
    },
    "wmca_grandtest": {  # Multi-Modal Disentanglement paper, Tab. 1 "Ours" (ACER only) and Tab. 4 (all three)
        MMDN: {"grandtest": {"acer": 0.27, "apcer": 0.39, "bpcer": 0.14}},  # Tab. 4 "Ours" (= Tab. 1 RGB-D "Ours")
        **{f"{MMDN}: {ablation}": {"grandtest": {"acer": acer, "apcer": apcer, "bpcer": bpcer}}
           for ablation, (acer, apcer, bpcer) in (  # Tab. 4 rows, ACER / APCER / BPCER as printed
               ("Baseline", (9.0, 18.1, 0.0)), ("RGB Only", (5.7, 10.0, 1.4)), ("DEP Only", (3.8, 4.0, 3.6)),
               ("Feature Concat.", (1.1, 1.5, 0.7)), ("Feature Concat. RGB", (1.3, 2.1, 0.6)),
               ("Feature Concat. DEP", (2.5, 5.1, 0.0)), ("SA-Gate", (0.52, 0.31, 0.72)))},
    },
    "wmca_loo": {  # Multi-Modal Disentanglement paper, Tab. 2 (ACER; its Mean +- Std as printed) and Tab. 5
        MMDN: _by_column(WMCA_LOO_ORDER,  # Tab. 2 RGB-D "Ours": the printed std is the population one
                         acer=[19.0, 0.5, 2.3, 0.7, 10.0, 0.7, 0.6, _MS(4.8, 6.6)]),
        "Auxiliary": _by_column(WMCA_LOO_ORDER,  # Tab. 2 RGB "Auxiliary(Depth)": the sample std
                                acer=[13.2, 12.5, 47.3, 32.2, 23.7, 13.9, 40.4, _MS(26.2, 14.1)]),
        f"{MMDN}: w/o L_center": {"overall": {"acer": _MS(12.4, 13.6)}},  # Tab. 5, mean over the 7 folds only
        f"{MMDN}: w/o L_id": {"overall": {"acer": _MS(7.9, 9.3)}},  # Tab. 5
        f"{MMDN}: w/o L_intensity": {"overall": {"acer": _MS(6.8, 7.3)}},  # Tab. 5
    },
    "cefa": {  # Multi-Modal Disentanglement paper, Tab. 3 "Ours": mean +- std over each protocol's sub-protocols
        MMDN: {"1": {"apcer": _MS(2.1, 3.5), "bpcer": _MS(7.9, 5.3), "acer": _MS(5.0, 1.9)},
               "2": {"apcer": _MS(0.2, 0.4), "bpcer": _MS(1.5, 0.7), "acer": _MS(0.9, 0.2)},
               "4": {"apcer": _MS(1.3, 0.6), "bpcer": _MS(11.1, 2.2), "acer": _MS(6.2, 1.0)}},
    },
    "casia_replay": {  # STDN+ paper, Tab. 3: cross-dataset HTER
        "PhySTD": {"casia_to_replay": {"hter": 17.1}, "replay_to_casia": {"hter": 27.7}},  # Tab. 3 "Ours"
        "Auxiliary": {"casia_to_replay": {"hter": 27.6}, "replay_to_casia": {"hter": 28.4}},  # "Auxiliary [18]"
        "LGSC": {"casia_to_replay": {"hter": 27.4}, "replay_to_casia": {"hter": 23.7}},  # LGSC Tab. 3 "Ours"
    },
    "cross_type_auc": {  # STDN+ paper, Tab. 4: AUC, leave one attack type out on CASIA / Replay / MSU-MFSD
        "PhySTD": {  # Tab. 4 "Ours"
            "casia_video": {"auc": 96.4}, "casia_cut_photo": {"auc": 100.0},
            "casia_wrapped_photo": {"auc": 98.9}, "replay_video": {"auc": 100.0},
            "replay_digital_photo": {"auc": 100.0}, "replay_printed_photo": {"auc": 99.8},
            "msu_printed_photo": {"auc": 85.5}, "msu_hr_video": {"auc": 99.9},
            "msu_mobile_video": {"auc": 99.3}, "overall": {"auc": _MS(97.8, 4.7)},
        },
        "CDCN": {  # Tab. 4 "CDCN [57]"
            "casia_video": {"auc": 98.5}, "casia_cut_photo": {"auc": 99.9},
            "casia_wrapped_photo": {"auc": 99.8}, "replay_video": {"auc": 100.0},
            "replay_digital_photo": {"auc": 99.4}, "replay_printed_photo": {"auc": 99.9},
            "msu_printed_photo": {"auc": 70.8}, "msu_hr_video": {"auc": 100.0},
            "msu_mobile_video": {"auc": 100.0}, "overall": {"auc": _MS(96.5, 9.6)},
        },
    },
}


def methods(table):
    """Names of the published methods kept for ``table`` (e.g. ("PhySTD", "STDN"))."""
    if table not in PUBLISHED:
        raise ValueError(f"no published numbers for table {table!r}; expected one of {sorted(PUBLISHED)}")
    return tuple(PUBLISHED[table])


def published_results(table, method):
    """A published row in the tables' results schema, converted from percent to fractions."""
    if method not in methods(table):
        raise ValueError(f"table {table!r} has no published row {method!r}; expected one of {methods(table)}")

    def fraction(value):
        if isinstance(value, _MS):
            return _MS(value.mean / 100.0, value.std / 100.0)
        return value / 100.0

    return {entry: {metric: fraction(value) for metric, value in cells.items()}
            for entry, cells in PUBLISHED[table][method].items()}
