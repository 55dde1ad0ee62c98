import json
import re

import numpy as np
import pytest

from physstd import methods
from physstd.data import protocols
from physstd.data.spoof_types import SIWM_TYPES
from physstd.eval import metrics, published, tables


def test_oulu_markdown_exact():
    results = {"Ours": {
        "1": {"apcer": 0.0123, "bpcer": 0.0, "acer": 0.00614, "eer": 0.5},  # extra metrics are ignored
        3: {"apcer": [0.01, 0.02, 0.03], "bpcer": {"mean": 0.004, "std": 0.001}, "acer": None},
    }}
    expected = (
        "Table: OULU-NPU protocols 1-4 (PhySTD paper, Tab. 1); P3 and P4: mean ± std over 6 folds.\n"
        "\n"
        "| Protocol | Method | APCER (%) | BPCER (%) | ACER (%) |\n"
        "| --- | --- | ---: | ---: | ---: |\n"
        "| 1 | Ours | 1.2 | 0.0 | 0.6 |\n"
        "| 2 | Ours | - | - | - |\n"
        "| 3 | Ours | 2.0 ± 1.0 | 0.4 ± 0.1 | - |\n"
        "| 4 | Ours | - | - | - |\n")
    assert tables.render_table("oulu", results) == expected


def test_casia_replay_latex_exact_with_escapes_and_published_rows():
    results = {"Ours_v2 (50% & #1)": {"casia_to_replay": {"hter": 0.2345}, "replay_to_casia": {"hter": 0.3}}}
    expected = "\n".join([
        "% Cross-dataset HTER, CASIA-FASD vs. Replay-Attack (STDN+ paper, Tab. 3), in %.",
        r"\begin{tabular}{llrr}",
        r"\toprule",
        r"Metric & Method & Train CASIA, test Replay & Train Replay, test CASIA \\",
        r"\midrule",
        r"HTER & PhySTD (paper) & 17.1 & 27.7 \\",
        r" & Ours\_v2 (50\% \& \#1) & 23.4 & 30.0 \\",
        r"\bottomrule",
        r"\end{tabular}",
        ""])
    assert tables.render_table("casia_replay", results, fmt="latex", published=["PhySTD"]) == expected


def test_latex_escape():
    assert tables.latex_escape(r"a_b&c%d$e#f{g}h~i^j\k") == (
        r"a\_b\&c\%d\$e\#f\{g\}h\textasciitilde{}i\textasciicircum{}j\textbackslash{}k")


def test_mean_std_cells_use_the_sample_std_in_both_formats():
    folds = [0.01, 0.03, 0.02, 0.06]
    mean, std = metrics.mean_std(folds)
    markdown = tables.render_table("siw", {"Ours": {"2": {"acer": folds}}})
    assert f"| 2 | Ours | - | - | {100 * mean:.1f} ± {100 * std:.1f} |" in markdown
    assert "3.0 ± 2.2" in markdown  # sample std of 1, 3, 2, 6 is 2.16; population std would be 1.87
    latex = tables.render_table("siw", {"Ours": {"2": {"acer": folds}}}, fmt="latex", decimals=2)
    assert r"2 & Ours & -- & -- & 3.00 $\pm$ 2.16 \\" in latex


def test_siwm_p2_overall_is_computed_from_the_types_present():
    results = {"Ours": {"replay": {"apcer": 0.1, "eer": 0.05}, "print": {"apcer": 0.2}}}
    markdown = tables.render_table("siwm_p2", results)
    row = [line for line in markdown.splitlines() if line.startswith("| APCER | Ours")][0]
    cells = [cell.strip() for cell in row.strip("|").split("|")]
    assert cells[2:4] == ["10.0", "20.0"]
    assert cells[4:15] == ["-"] * 11
    assert cells[15] == "15.0 ± 7.1"  # mean 0.15, sample std 0.0707
    # One EER value cannot make a mean +- std; a note says how many types an Overall covers.
    assert "| EER | Ours | 5.0 |" in markdown and markdown.count("| EER |") == 1
    assert "Ours: Overall APCER over 2 of 13 columns." in markdown


def test_siwm_column_header_follows_the_papers_order():
    header = tables.render_table("siwm_p1", {}).splitlines()[2]
    assert header == ("| Metric | Method | Replay | Print | Half | Silic. | Trans. | Paper | Mann. | Ob. | Im. | "
                      "Cos. | Funny | Papergls. | Part. paper | Overall |")
    latex = tables.render_table("siwm_p1", {}, fmt="latex")
    assert r"\multicolumn{5}{c}{3D Mask} & \multicolumn{3}{c}{Makeup} & \multicolumn{3}{c}{Partial Attacks}" in latex
    assert r"\cmidrule(lr){5-9} \cmidrule(lr){10-12} \cmidrule(lr){13-15}" in latex


def test_published_siwm_p1_row_prints_as_in_the_paper():
    markdown = tables.render_table("siwm_p1", {}, published=["PhySTD"])
    # PhySTD paper, Tab. 3, "Step1+Step2+Step3 (Ours)", TPR@FNR=.5% row.
    assert ("| TDR@FDR=0.5% | PhySTD (paper) | 85.7 | 85.4 | 100.0 | 76.6 | 96.3 | 80.2 | 93.8 | 41.1 | 100.0 | "
            "55.8 | 98.1 | 100.0 | 99.8 | 91.2 |") in markdown


def test_published_siwm_p1_ablation_rows_print_as_in_the_paper():
    ablation = ["Step1", "Step1+Step2 w/ single trace", "Step1+Step2"]
    assert tables.published_choice("siwm_p1", rows=ablation) == ablation
    markdown = tables.render_table("siwm_p1", {}, published=ablation)
    # PhySTD paper, Tab. 3, ACER block "Step1" and EER block "Step1+Step2 w/ single trace", "Step1+Step2" TPR row.
    assert ("| ACER | Step1 (paper) | 6.1 | 5.4 | 5.4 | 5.4 | 5.4 | 5.4 | 5.4 | 22.7 | 5.4 | 26.8 | 5.4 | 5.5 | 5.4 | "
            "10.9 |") in markdown
    assert ("|  | Step1+Step2 w/ single trace (paper) | 6.7 | 5.3 | 0.8 | 1.5 | 1.4 | 3.3 | 3.2 | 21.5 | 1.0 | "
            "27.1 | 6.5 | 6.1 | 1.5 | 5.8 |") in markdown
    assert ("|  | Step1+Step2 (paper) | 84.7 | 74.7 | 100.0 | 70.1 | 96.6 | 77.5 | 89.6 | 36.9 | 100.0 | "
            "40.1 | 96.3 | 99.4 | 99.4 | 89.7 |") in markdown
    rows = [line.split(" | ")[1] for line in markdown.splitlines() if "(paper) |" in line]
    assert rows == [f"{name} (paper)" for name in ablation] * 3   # ACER, EER and TDR blocks, in the order asked for


# LGSC paper, Tab. 5 (OULU-NPU protocol 1, APCER / BPCER / ACER in %), transcribed again here.
LGSC_ABLATIONS = {"LGSC resized input": (2.1, 3.3, 2.7), "LGSC w/o triplet": (1.7, 3.3, 2.5),
                  "LGSC triplet E5-SC": (0.2, 4.2, 2.3), "LGSC w/o classifier": (2.5, 0.8, 1.7),
                  "LGSC RL live+spoof": (0.8, 2.5, 1.7), "LGSC classifier on C": (1.7, 0.0, 0.8)}
LGSC_ABLATIONS = {name: dict(zip(("apcer", "bpcer", "acer"), row)) for name, row in LGSC_ABLATIONS.items()}

MULTI_MODAL_TABLES = ("wmca_grandtest", "wmca_loo", "cefa")
# The Multi-Modal Disentanglement paper's Tab. 5: mean +- std ACER over WMCA's leave-one-out folds, no columns.
LOSS_ABLATIONS = {f"{published.MMDN}: w/o {loss}": metrics.MeanStd(mean, std)
                  for loss, mean, std in (("L_center", 12.4, 13.6), ("L_id", 7.9, 9.3), ("L_intensity", 6.8, 7.3))}

# Rows a paper prints without some metric of its table: those cells print as dashes.
NOT_PRINTED = {("siwm_p1", "Auxiliary"): {"tdr"}, ("siwm_p2", "Auxiliary"): {"tdr"}}


@pytest.mark.parametrize("table", sorted(tables.TABLES))
def test_published_rows_cover_every_column(table):
    spec = tables.TABLES[table]
    entries = [column.key for column in spec.entries] + (["overall"] if spec.overall else [])
    # Tab. 4 of LGSC and the Multi-Modal Disentanglement paper's tables have no PhySTD row.
    assert ("PhySTD" in published.methods(table)) == (table not in ("siw_to_oulu", *MULTI_MODAL_TABLES))
    partial = set(published.methods(table)) - set(tables.complete_published_rows(table))
    assert partial == set(LGSC_ABLATIONS if table == "oulu" else LOSS_ABLATIONS if table == "wmca_loo" else ())
    for method in partial:
        assert published.PUBLISHED[table][method] == ({"1": LGSC_ABLATIONS[method]} if table == "oulu" else
                                                      {"overall": {"acer": LOSS_ABLATIONS[method]}})
    for method in tables.complete_published_rows(table):
        rows = published.PUBLISHED[table][method]
        assert sorted(rows) == sorted(entries), (table, method)
        absent = NOT_PRINTED.get((table, method), set())
        for entry in entries:
            assert set(rows[entry]) == {metric for metric, _ in spec.metrics} - absent, (table, method, entry)
            assert None not in rows[entry].values(), (table, method, entry)
    rendered = tables.render_table(table, {}, published=True)
    published_lines = [line for line in rendered.splitlines() if "(paper) |" in line]
    assert len(published_lines) == len(tables.complete_published_rows(table)) * (
        len(spec.metrics) if spec.entries_are_columns else len(spec.entries))
    not_printed = [(method, label) for (t, method), absent in NOT_PRINTED.items() if t == table
                   for metric, label in spec.metrics if metric in absent]
    assert len([line for line in published_lines if " - " in line]) == len(not_printed)
    for method, label in not_printed:
        assert set(_markdown_row(rendered, label, f"{method} (paper)")) == {"-"}


def _markdown_row(rendered, block, method):
    """The cells of `method`'s row in block `block` of a Markdown table (the block label is on its first row)."""
    current = None
    for line in rendered.splitlines():
        cells = [cell.strip() for cell in line.strip("|").split("|")]
        if len(cells) > 2 and line.startswith("|") and cells[0] not in ("", "---"):
            current = cells[0]
        if current == block and len(cells) > 2 and cells[1] == method:
            return cells[2:]
    raise AssertionError(f"no row {method!r} in block {block!r}:\n{rendered}")


def test_all_published_oulu_rows_print_with_the_papers_numbers():
    """PhySTD paper, Tab. 1 (the Auxiliary and DeSpoof rows also De-Spoof paper, Tab. 4) with our row below."""
    ours = {"1": {"apcer": 0.01, "bpcer": 0.02, "acer": 0.015}}
    rendered = tables.render_table("oulu", {"ours": ours}, published=True)
    assert [line.split("|")[2].strip() for line in rendered.splitlines()[4:10]] == [
        "PhySTD (paper)", "STDN (paper)", "Auxiliary (paper)", "DeSpoof (paper)", "LGSC (paper)", "ours"]
    assert _markdown_row(rendered, "1", "Auxiliary (paper)") == ["1.6", "1.6", "1.6"]
    assert _markdown_row(rendered, "1", "DeSpoof (paper)") == ["1.2", "1.7", "1.5"]
    assert _markdown_row(rendered, "1", "ours") == ["1.0", "2.0", "1.5"]
    assert _markdown_row(rendered, "2", "DeSpoof (paper)") == ["4.2", "4.4", "4.3"]
    assert _markdown_row(rendered, "3", "DeSpoof (paper)") == ["4.0 ± 1.8", "3.8 ± 1.2", "3.6 ± 1.6"]
    assert _markdown_row(rendered, "4", "Auxiliary (paper)") == ["9.3 ± 5.6", "10.4 ± 6.0", "9.5 ± 6.0"]
    assert _markdown_row(rendered, "4", "DeSpoof (paper)") == ["5.1 ± 6.3", "6.1 ± 5.1", "5.6 ± 5.7"]
    assert _markdown_row(rendered, "4", "ours") == ["-", "-", "-"]


def test_published_lgsc_rows_print_as_in_the_lgsc_paper():
    """"Learning Generalized Spoof Cues" (Feng et al. 2020): Tab. 2 (OULU-NPU), Tab. 1 (SiW, two decimals), Tab. 3."""
    oulu = tables.render_table("oulu", {}, published=["LGSC"])
    assert _markdown_row(oulu, "1", "LGSC (paper)") == ["0.8", "0.0", "0.4"]
    assert _markdown_row(oulu, "2", "LGSC (paper)") == ["0.8", "0.6", "0.7"]
    assert _markdown_row(oulu, "3", "LGSC (paper)") == ["1.5 ± 1.4", "1.9 ± 1.9", "1.7 ± 1.6"]
    assert _markdown_row(oulu, "4", "LGSC (paper)") == ["5.8 ± 4.9", "1.7 ± 2.6", "3.7 ± 2.1"]
    siw = tables.render_table("siw", {}, published=["LGSC"], decimals=2)
    assert _markdown_row(siw, "1", "LGSC (paper)") == ["0.00", "0.50", "0.25"]
    assert _markdown_row(siw, "2", "LGSC (paper)") == ["0.00 ± 0.00"] * 3
    assert _markdown_row(siw, "3", "LGSC (paper)") == ["1.61 ± 1.69", "0.77 ± 1.09", "1.19 ± 1.39"]
    cross = tables.render_table("casia_replay", {}, published=["LGSC"])
    assert _markdown_row(cross, "HTER", "LGSC (paper)") == ["27.4", "23.7"]
    siw_to_oulu = tables.render_table("siw_to_oulu", {"ours": {"3": {"acer": [0.1, 0.3]}}}, published=True)
    for protocol, lgsc, auxiliary in (("1", "6.5", "10.0"), ("2", "11.4", "14.1"), ("3", "9.9 ± 8.2", "13.8 ± 5.7"),
                                      ("4", "6.7 ± 6.6", "10.0 ± 8.8")):   # LGSC paper, Tab. 4
        assert _markdown_row(siw_to_oulu, protocol, "LGSC (paper)") == [lgsc]
        assert _markdown_row(siw_to_oulu, protocol, "Auxiliary (paper)") == [auxiliary]
    assert _markdown_row(siw_to_oulu, "3", "ours") == ["20.0 ± 14.1"]
    ablations = tables.render_table("oulu", {}, published=["LGSC", "LGSC w/o triplet", "LGSC classifier on C"])
    assert _markdown_row(ablations, "1", "LGSC w/o triplet (paper)") == ["1.7", "3.3", "2.5"]
    assert _markdown_row(ablations, "1", "LGSC classifier on C (paper)") == ["1.7", "0.0", "0.8"]
    assert _markdown_row(ablations, "2", "LGSC w/o triplet (paper)") == ["-", "-", "-"]
    assert "w/o triplet" not in tables.render_table("oulu", {}, published=True)


def test_published_multi_modal_rows_print_as_in_the_multi_modal_disentanglement_paper():
    """"Learning Polysemantic Spoof Trace" (Li et al. 2023): Tab. 1/4 (WMCA grandtest, two decimals as printed),
    Tab. 2 and 5 (WMCA leave-one-out), Tab. 3 (CeFA, ACER printed first there, last here)."""
    name = published.MMDN
    assert methods.get("mmdn").display_name == name   # our row: "<name> (ours)"
    grandtest = tables.render_table("wmca_grandtest", {}, published=True)
    assert _markdown_row(grandtest, "grandtest", f"{name} (paper)") == ["0.39", "0.14", "0.27"]
    assert _markdown_row(grandtest, "grandtest", f"{name}: Baseline (paper)") == ["18.10", "0.00", "9.00"]
    assert _markdown_row(grandtest, "grandtest", f"{name}: SA-Gate (paper)") == ["0.31", "0.72", "0.52"]
    assert grandtest.count("(paper)") == 8
    loo = tables.render_table("wmca_loo", {"ours": {"replay": {"acer": 0.1}, "prints": {"acer": 0.3}}},
                              published=True)
    header = [cell.strip() for cell in loo.splitlines()[2].split("|")[3:-1]]
    assert header == ["FlexibleMask", "Replay", "FakeHead", "Prints", "Glasses", "PaperMask", "RigidMask", "Overall"]
    assert _markdown_row(loo, "ACER", f"{name} (paper)") == [
        "19.0", "0.5", "2.3", "0.7", "10.0", "0.7", "0.6", "4.8 ± 6.6"]
    assert _markdown_row(loo, "ACER", "Auxiliary (paper)")[-1] == "26.2 ± 14.1"
    assert _markdown_row(loo, "ACER", "ours") == ["-", "10.0", "-", "30.0", "-", "-", "-", "20.0 ± 14.1"]
    # Tab. 2 prints the population std for its own row and the sample std for Auxiliary(Depth): the stored
    # rows keep what is printed, and these are the statistics of their columns.
    ours_paper, auxiliary_paper = (published.PUBLISHED["wmca_loo"][row] for row in (name, "Auxiliary"))
    columns = published.WMCA_LOO_ORDER
    for row, ddof in ((ours_paper, 0), (auxiliary_paper, 1)):
        values = np.array([row[column]["acer"] for column in columns])
        assert (round(values.mean(), 1), round(values.std(ddof=ddof), 1)) == tuple(row["overall"]["acer"])
    assert f"{name}: w/o L_id" not in loo   # Overall-only rows (Tab. 5) print when named
    ablation = tables.render_table("wmca_loo", {}, published=[f"{name}: w/o L_center"])
    assert _markdown_row(ablation, "ACER", f"{name}: w/o L_center (paper)") == ["-"] * 7 + ["12.4 ± 13.6"]
    cefa = tables.render_table("cefa", {}, published=True)
    assert _markdown_row(cefa, "1", f"{name} (paper)") == ["2.1 ± 3.5", "7.9 ± 5.3", "5.0 ± 1.9"]
    assert _markdown_row(cefa, "2", f"{name} (paper)") == ["0.2 ± 0.4", "1.5 ± 0.7", "0.9 ± 0.2"]
    assert _markdown_row(cefa, "4", f"{name} (paper)") == ["1.3 ± 0.6", "11.1 ± 2.2", "6.2 ± 1.0"]
    assert {key for key, _ in tables.WMCA_LOO_COLUMNS} == set(columns) == set(protocols.WMCA_LOO_CATEGORIES)


def test_chosen_published_rows_print_in_the_order_given():
    rendered = tables.render_table("siwm_p2", {}, published=["Auxiliary", "PhySTD"])
    methods = [line.split("|")[2].strip() for line in rendered.splitlines() if "(paper)" in line]
    assert methods[:2] == ["Auxiliary (paper)", "PhySTD (paper)"] and set(methods) == set(methods[:2])
    # PhySTD paper, Tab. 4 "Auxiliary [18]": APCER Replay .. Partial paper and Average; no TPR row in the paper.
    assert _markdown_row(rendered, "APCER", "Auxiliary (paper)") == [
        "23.7", "7.3", "27.7", "18.2", "97.8", "8.3", "16.2", "100.0", "18.0", "16.3", "91.8", "72.2", "0.4",
        "38.3 ± 37.4"]
    assert _markdown_row(rendered, "EER", "Auxiliary (paper)")[-1] == "17.0 ± 17.7"
    assert _markdown_row(rendered, tables.TDR_LABEL, "Auxiliary (paper)") == ["-"] * 14
    assert _markdown_row(rendered, tables.TDR_LABEL, "PhySTD (paper)")[-1] == "53.7 ± 31.8"
    p1 = tables.render_table("siwm_p1", {}, published=["Auxiliary"])   # PhySTD paper, Tab. 3
    assert _markdown_row(p1, "ACER", "Auxiliary (paper)")[-1] == "6.3"
    assert _markdown_row(p1, "EER", "Auxiliary (paper)")[:3] == ["4.7", "0.0", "1.6"]
    with pytest.raises(ValueError, match="table 'siwm_p1' has no published row 'DeSpoof'"):
        tables.render_table("siwm_p1", {}, published=["DeSpoof"])


def _relative_gain(old, new):
    return 100.0 * (old - new) / old


def _value(table, method, entry, metric):
    value = published.PUBLISHED[table][method][entry][metric]
    return value.mean if isinstance(value, metrics.MeanStd) else value


@pytest.mark.parametrize("table, entry, metric, stated", [
    ("oulu", "1", "acer", 63.6), ("oulu", "3", "acer", 32.1),  # PhySTD paper, Sec. 4.2, OULU-NPU paragraph
    ("siwm_p1", "overall", "eer", 47.9), ("siwm_p1", "overall", "acer", 31.7),  # 4.5 (ACER called HTER)
    ("siwm_p1", "overall", "tdr", -29.5),  # TDR rises
    ("siwm_p2", "overall", "eer", 11.7), ("siwm_p2", "overall", "acer", 19.0),  # 4.3
    ("siwm_p2", "overall", "tdr", -50.4),
    ("siwm_p2", "half_mask", "eer", 47.6), ("siwm_p2", "paper_glasses", "eer", 40.4),
    ("siwm_p2", "replay", "eer", 31.6), ("siwm_p2", "partial_paper", "eer", 56.3),
])
def test_transcription_matches_the_improvements_stated_in_the_text(table, entry, metric, stated):
    old = _value(table, "STDN", entry, metric)
    new = _value(table, "PhySTD", entry, metric)
    assert _relative_gain(old, new) == pytest.approx(stated, abs=0.06)


def test_published_results_are_fractions():
    oulu = published.published_results("oulu", "PhySTD")
    assert oulu["1"]["bpcer"] == pytest.approx(0.008)
    assert oulu["4"]["acer"] == metrics.MeanStd(pytest.approx(0.036), pytest.approx(0.042))
    with pytest.raises(ValueError, match="no published row"):
        published.published_results("oulu", "CDCN")


def test_results_round_trip_through_a_file(tmp_path, capsys):
    results = {"Ours": {"3": {"apcer": np.array([0.01, 0.02]), "bpcer": metrics.MeanStd(0.01, 0.005),
                              "acer": np.float32(0.25)}}}
    with pytest.raises(TypeError):
        json.dumps(metrics.MeanStd(0.01, 0.005))  # never silently a 2-list that reads back as two folds
    path = tmp_path / "oulu.json"
    tables.save_results(path, "oulu", results)
    table, loaded = tables.load_results(path)
    assert table == "oulu"
    assert loaded["Ours"]["3"]["bpcer"] == {"mean": 0.01, "std": 0.005}
    rendered = tables.render_table("oulu", loaded, published=True)
    assert rendered == tables.render_table("oulu", results, published=True)
    assert "|  | Ours | 1.5 ± 0.7 | 1.0 ± 0.5 | 25.0 |" in rendered  # below the paper rows
    tables.main([str(path), "--published"])
    assert capsys.readouterr().out == rendered + "\n"
    tables.main([str(path), "--latex", "--published", "STDN"])
    assert r"3 & STDN (paper) & 1.6 $\pm$ 1.6" in capsys.readouterr().out
    tables.main([str(path), "--published_rows=DeSpoof,Auxiliary"])
    lines = capsys.readouterr().out.splitlines()
    block = lines.index("| 3 | DeSpoof (paper) | 4.0 ± 1.8 | 3.8 ± 1.2 | 3.6 ± 1.6 |")
    assert lines[block + 1:block + 3] == ["|  | Auxiliary (paper) | 2.7 ± 1.3 | 3.1 ± 1.7 | 2.9 ± 1.5 |",
                                          "|  | Ours | 1.5 ± 0.7 | 1.0 ± 0.5 | 25.0 |"]
    for argv, message in (([str(path), "--published_rows=DeSpoof,STASN"],
                           "--published_rows=DeSpoof,STASN: table 'oulu' has no published row 'STASN'"),
                          ([str(path), "--published", "CDCN"], "--published=CDCN: table 'oulu' has no published row")):
        with pytest.raises(ValueError, match=re.escape(message)):
            tables.main(argv)


def test_published_choice_of_the_command_line_flags():
    assert tables.published_choice("oulu", False) is False
    assert tables.published_choice("oulu", True, []) is True
    assert tables.published_choice("oulu", False, ["DeSpoof", "", "PhySTD"]) == ["DeSpoof", "PhySTD"]
    with pytest.raises(ValueError, match=r"--published_rows=Auxiliary: needs a paper table \(--table\)"):
        tables.published_choice("", True, ["Auxiliary"])
    with pytest.raises(ValueError, match="table 'siwm_p3' has no published row 'DeSpoof'; expected some of "
                                         "PhySTD, Auxiliary"):
        tables.published_choice("siwm_p3", True, ["DeSpoof"])


def test_load_results_errors_name_the_file(tmp_path):
    path = tmp_path / "r.json"
    path.write_text(json.dumps({"table": "oulu", "results": {}}))
    with pytest.raises(ValueError, match="r.json: expected a JSON object with keys"):
        tables.load_results(path)
    path.write_text(json.dumps({"format_version": 1, "table": "oulu_p9", "results": {}}))
    with pytest.raises(ValueError, match="r.json: .*table 'oulu_p9'"):
        tables.load_results(path)
    with pytest.raises(ValueError, match="missing.json: results file not found"):
        tables.load_results(tmp_path / "missing.json")


@pytest.mark.parametrize("results, message", [
    ({"Ours": {"5": {"acer": 0.1}}}, "unknown entry '5'"),
    ({"Ours": {"1": {"acer": "low"}}}, "oulu/Ours/1/acer: expected a number"),
    ({"Ours": {"1": {"acer": [0.1]}}}, "at least two"),
    ({"Ours": {"1": {"acer": {"mean": 0.1}}}}, "keys 'mean' and 'std'"),
    ({"Ours": {"1": 0.1}}, "expected {metric: value}"),
    ({"Ours": {"1": {"acer": 0.1, "acr": 0.1}}}, "entry '1': unknown metric key 'acr'"),
    ({"Ours": {"1": {"APCER": 0.1}}}, "unknown metric key 'APCER'"),
    ({"PhySTD (paper)": {}}, "clashes with a published row"),
])
def test_bad_results_raise(results, message):
    with pytest.raises(ValueError, match=message):
        tables.render_table("oulu", results, published=True)


def test_unknown_table_and_format_raise():
    with pytest.raises(ValueError, match="unknown table"):
        tables.render_table("oulu_p5", {})
    with pytest.raises(ValueError, match="unknown format"):
        tables.render_table("oulu", {}, fmt="html")


def test_evaluate_output_renders_directly():
    rng = np.random.default_rng(0)
    labels = np.repeat([0, 1], 50)
    scores = rng.normal(labels * 2.0, 1.0)
    species = np.where(labels == 1, np.where(np.arange(100) % 2, "print", "replay"), "live")
    result = metrics.evaluate(labels, scores, 1.0, species)
    per_type = metrics.evaluate_per_species(labels, scores, species, 1.0)
    markdown = tables.render_table("siwm_p1", {"Ours": {**per_type, "overall": result}})
    acer_row = [line for line in markdown.splitlines() if line.startswith("| ACER | Ours")][0]
    cells = [cell.strip() for cell in acer_row.strip("|").split("|")]
    assert cells[2] == f"{100 * per_type['replay']['acer']:.1f}"
    assert cells[3] == f"{100 * per_type['print']['acer']:.1f}"
    assert cells[-1] == f"{100 * result['acer']:.1f}"
    assert set(SIWM_TYPES[:2]) == set(per_type)
    assert set(result) == set(metrics.EVALUATE_KEYS)   # the keys the tables accept are those evaluate writes
