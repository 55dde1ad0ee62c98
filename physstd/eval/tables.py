"""Result tables laid out like the papers' (PhySTD paper, Tab. 1-5, STDN+ paper, Tab. 3-4, LGSC paper, Tab. 4,
Multi-Modal Disentanglement paper, Tab. 1-4), as Markdown or LaTeX.

Results schema (plain dicts, JSON-compatible), one per method:

    results = {method_label: {entry: {metric: value}}}

- ``entry``: a protocol ("1".."4"; ints are accepted), a SiW-M spoof type (spoof_types.SIWM_TYPES names),
  a cross-dataset direction or a cross-type test column; ``TABLES[name].entries`` lists them. An entry
  "overall" is the Overall/Average column of the SiW-M and cross-type tables.
- ``metric``: "apcer", "bpcer", "acer", "eer", "tdr", "hter", "auc". A table prints the ones it has; the other
  keys of physstd.eval.metrics.evaluate (metrics.EVALUATE_KEYS) are accepted and not printed, so an ``evaluate``
  dict can be passed as it is; any other key (a typo such as "acr") is refused.
- ``value``: a FRACTION in [0, 1] (printed in percent), or a list of per-fold fractions (printed as
  mean +- sample std, metrics.mean_std), or a metrics.MeanStd / {"mean": m, "std": s} already aggregated,
  or None (printed as a dash). Missing entries and metrics print as dashes too.

``save_results(path, table, results)`` / ``load_results(path)`` keep a table's results in a JSON file
{"format_version": 1, "table": name, "results": ...}; ``python -m physstd.eval.tables FILE.json
[--latex] [--published | --published_rows=Auxiliary,DeSpoof]`` prints it.

Where the paper's Overall is a mean +- std over the per-type columns (SiW-M protocols II and III, the
cross-type AUC) and a method gives no "overall" entry, it is computed from the per-type values present.
The published rows (physstd.eval.published) are added above ours with ``published=True`` or a list of
their method names. On the command line (here and in run_test.py) ``--published`` adds every published row of
the table that has all its entries and ``--published_rows=A,B`` only those, in that order (`published_choice`;
the one-entry ablation rows, e.g. "LGSC w/o triplet" of OULU-NPU protocol 1, print only when named).
"""
import argparse
import collections
import numbers
import os
import sys

import numpy as np

from physstd import cli, files, methods
from physstd.data.spoof_types import SIWM_TYPES
from physstd.eval import evaluate, metrics, published as published_numbers

Column = collections.namedtuple("Column", "key markdown latex group")
Column.__doc__ = "A table column: results key, flat Markdown label, LaTeX label, LaTeX group header ('' for none)."

TableSpec = collections.namedtuple(
    "TableSpec", "caption entries metrics entries_are_columns block_header overall")
TableSpec.__doc__ = """How one paper table is laid out.

entries: Columns for the results entries; metrics: ((key, label), ...). With entries_are_columns the table
has one block of rows per metric and one column per entry (SiW-M); otherwise one block per entry
(protocol) and one column per metric (OULU-NPU, SiW). overall: None, "given" (an Overall column the
results must supply) or "mean_std" (Overall = mean +- std of the entries unless supplied).
"""

TDR_LABEL = "TDR@FDR=0.5%"  # printed "TPR@FNR=.5%" in the PhySTD paper's Tab. 3-5; see metrics.tdr_at_fdr

_PAD_METRICS = (("apcer", "APCER (%)"), ("bpcer", "BPCER (%)"), ("acer", "ACER (%)"))

_SIWM_LABELS = {  # type: (Markdown label, LaTeX label, LaTeX group) in the papers' column order
    "replay": ("Replay", "Replay", ""), "print": ("Print", "Print", ""),
    "half_mask": ("Half", "Half", "3D Mask"), "silicone_mask": ("Silic.", "Silic.", "3D Mask"),
    "transparent_mask": ("Trans.", "Trans.", "3D Mask"), "paper_mask": ("Paper", "Paper", "3D Mask"),
    "mannequin": ("Mann.", "Mann.", "3D Mask"), "obfuscation": ("Ob.", "Ob.", "Makeup"),
    "impersonation": ("Im.", "Im.", "Makeup"), "cosmetic": ("Cos.", "Cos.", "Makeup"),
    "funny_eye": ("Funny", "Funny", "Partial Attacks"),
    "paper_glasses": ("Papergls.", "Papergls.", "Partial Attacks"),
    "partial_paper": ("Part. paper", "Paper", "Partial Attacks"),
}
# WMCA's leave-one-out folds in the column order of the Multi-Modal Disentanglement paper's Tab. 2, with its labels.
WMCA_LOO_COLUMNS = tuple(zip(published_numbers.WMCA_LOO_ORDER, ("FlexibleMask", "Replay", "FakeHead", "Prints",
                                                                 "Glasses", "PaperMask", "RigidMask")))
_SIWM_COLUMNS = tuple(Column(name, *_SIWM_LABELS[name]) for name in SIWM_TYPES)
_OVERALL = Column("overall", "Overall", "Overall", "")


def _protocols(*names):
    return tuple(Column(name, name, name, "") for name in names)


TABLES = {
    "oulu": TableSpec("OULU-NPU protocols 1-4 (PhySTD paper, Tab. 1); P3 and P4: mean ± std over 6 folds.",
                      _protocols("1", "2", "3", "4"), _PAD_METRICS, False, "Protocol", None),
    "siw": TableSpec("SiW protocols 1-3 (PhySTD paper, Tab. 2); P2 and P3: mean ± std over folds.",
                     _protocols("1", "2", "3"), _PAD_METRICS, False, "Protocol", None),
    "siwm_p1": TableSpec("SiW-M protocol I, known spoof types (PhySTD paper, Tab. 3), in %.",
                         _SIWM_COLUMNS, (("acer", "ACER"), ("eer", "EER"), ("tdr", TDR_LABEL)),
                         True, "Metric", "given"),
    "siwm_p2": TableSpec("SiW-M protocol II, leave one type out; column = unknown type "
                         "(PhySTD paper, Tab. 4), in %.",
                         _SIWM_COLUMNS, (("apcer", "APCER"), ("bpcer", "BPCER"), ("acer", "ACER"),
                                         ("eer", "EER"), ("tdr", TDR_LABEL)), True, "Metric", "mean_std"),
    "siwm_p3": TableSpec("SiW-M protocol III, open set; column = type held out of training "
                         "(PhySTD paper, Tab. 5), in %.",
                         _SIWM_COLUMNS, (("acer", "ACER"), ("eer", "EER"), ("tdr", TDR_LABEL)),
                         True, "Metric", "mean_std"),
    "siw_to_oulu": TableSpec("Cross-dataset ACER, trained on SiW, tested on OULU-NPU protocols 1-4 (LGSC paper, "
                             "Tab. 4); P3 and P4: mean ± std over the 6 test folds.",
                             _protocols("1", "2", "3", "4"), (("acer", "ACER (%)"),), False, "Protocol", None),
    "wmca_grandtest": TableSpec("WMCA grandtest, RGB and depth (Multi-Modal Disentanglement paper, Tab. 1 and its "
                                "Tab. 4 ablations); threshold at BPCER = 1% on the validation set.",
                                _protocols("grandtest"), _PAD_METRICS, False, "Protocol", None),
    "wmca_loo": TableSpec("WMCA leave-one-out ACER; column = the PAI category left out of training (Multi-Modal "
                          "Disentanglement paper, Tab. 2), in %. Mean ± std: ours the sample std; the paper's row "
                          "of that method prints the population std, its Auxiliary (Depth) row the sample std.",
                          tuple(Column(key, label, label, "") for key, label in WMCA_LOO_COLUMNS),
                          (("acer", "ACER"),), True, "Metric", "mean_std"),
    "cefa": TableSpec("CASIA-SURF CeFA protocols 1, 2 and 4, RGB and depth (Multi-Modal Disentanglement paper, "
                      "Tab. 3, which prints ACER first); mean ± std over the sub-protocols.",
                      _protocols("1", "2", "4"), _PAD_METRICS, False, "Protocol", None),
    "casia_replay": TableSpec("Cross-dataset HTER, CASIA-FASD vs. Replay-Attack (STDN+ paper, Tab. 3), in %.",
                              (Column("casia_to_replay", "Train CASIA, test Replay",
                                      "Train CASIA, test Replay", ""),
                               Column("replay_to_casia", "Train Replay, test CASIA",
                                      "Train Replay, test CASIA", "")),
                              (("hter", "HTER"),), True, "Metric", None),
    "cross_type_auc": TableSpec("AUC testing on an unseen attack type of CASIA, Replay and MSU-MFSD "
                                "(STDN+ paper, Tab. 4), in %.",
                                tuple(Column(f"{dataset.lower().replace('-', '')}_{key}", f"{dataset} {label}",
                                             label, dataset)
                                      for dataset, columns in (
                                          ("CASIA", (("video", "Video"), ("cut_photo", "Cut Photo"),
                                                     ("wrapped_photo", "Wrapped Photo"))),
                                          ("Replay", (("video", "Video"), ("digital_photo", "Digital Photo"),
                                                      ("printed_photo", "Printed Photo"))),
                                          ("MSU", (("printed_photo", "Printed Photo"),
                                                   ("hr_video", "HR Video"), ("mobile_video", "Mobile Video"))))
                                      for key, label in columns),
                                (("auc", "AUC"),), True, "Metric", "mean_std"),
}

_LATEX_SPECIAL = {"\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_",
                  "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}"}


def latex_escape(text):
    """Text with LaTeX's special characters escaped (for labels and method names)."""
    return "".join(_LATEX_SPECIAL.get(char, char) for char in str(text))


def _markdown_escape(text):
    return str(text).replace("|", r"\|")


def _as_cell(value, where):
    """A value of the schema as None, a float, or a MeanStd (all in fractions)."""
    if value is None:
        return None
    if isinstance(value, metrics.MeanStd):
        return value
    if isinstance(value, dict):
        if set(value) != {"mean", "std"}:
            raise ValueError(f"{where}: a dict value must have keys 'mean' and 'std'; got {sorted(value)}")
        return metrics.MeanStd(_fraction(value["mean"], where), _fraction(value["std"], where))
    if isinstance(value, numbers.Real):
        return _fraction(value, where)
    try:
        values = [_fraction(item, where) for item in value]
        return metrics.mean_std(values)
    except (TypeError, ValueError) as error:
        raise ValueError(f"{where}: expected a number, a list of fold values, or mean/std; "
                         f"got {value!r} ({error})") from None


def _fraction(value, where):
    """A metric value as a float fraction; NaN, infinities and values outside [0, 1] (a percentage given where a
    fraction belongs) are refused."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not 0.0 <= float(value) <= 1.0:
        raise ValueError(f"{where}: metric values are fractions in [0, 1] (printed in percent), got {value!r}")
    return float(value)


def _format(cell, fmt, decimals):
    if cell is None:
        return "--" if fmt == "latex" else "-"
    if isinstance(cell, metrics.MeanStd):
        plus_minus = r" $\pm$ " if fmt == "latex" else " ± "
        return _format(cell.mean, fmt, decimals) + plus_minus + _format(cell.std, fmt, decimals)
    return f"{100.0 * cell + 0.0:.{decimals}f}"  # + 0.0 turns -0.0 into 0.0


def _check_metric_keys(values, where):
    """Refuse a key of {metric: value} that metrics.evaluate does not write (a typo would print as a dash)."""
    unknown = sorted(str(key) for key in values if key not in metrics.EVALUATE_KEYS)
    if unknown:
        raise ValueError(f"{where}: unknown metric key {unknown[0]!r}; expected some of "
                         f"{', '.join(metrics.EVALUATE_KEYS)}")


def _cells(spec, table, method, results):
    """{(entry, metric): cell} for one method, with a computed Overall where the paper has one; and notes."""
    if not isinstance(results, dict):
        raise ValueError(f"table {table!r}, method {method!r}: expected {{entry: {{metric: value}}}}")
    allowed = [column.key for column in spec.entries] + (["overall"] if spec.overall else [])
    cells, notes = {}, []
    for entry, values in results.items():
        entry = str(entry)
        if entry not in allowed:
            raise ValueError(f"table {table!r}, method {method!r}: unknown entry {entry!r}; "
                             f"expected some of {allowed}")
        if not isinstance(values, dict):
            raise ValueError(f"table {table!r}, method {method!r}, entry {entry!r}: expected {{metric: value}}")
        _check_metric_keys(values, f"table {table!r}, method {method!r}, entry {entry!r}")
        for metric, _ in spec.metrics:
            cells[entry, metric] = _as_cell(values.get(metric), f"{table}/{method}/{entry}/{metric}")
    if spec.overall == "mean_std":
        for metric, label in spec.metrics:
            if cells.get(("overall", metric)) is not None:
                continue
            present = [cells.get((column.key, metric)) for column in spec.entries]
            present = [cell for cell in present if cell is not None]
            if any(isinstance(cell, metrics.MeanStd) for cell in present):
                raise ValueError(f"table {table!r}, method {method!r}: per-type {metric} values must be single "
                                 f"numbers to compute the Overall mean +- std")
            if len(present) >= 2:
                cells["overall", metric] = metrics.mean_std(present)
                if len(present) < len(spec.entries):
                    notes.append(f"{method}: Overall {label} over {len(present)} of {len(spec.entries)} columns.")
    return cells, notes


def _rows(spec, cells_by_method, fmt, decimals):
    """Blocks of (block label, method, [cell strings]) in the paper's layout."""
    blocks = []
    if spec.entries_are_columns:
        columns = list(spec.entries) + ([_OVERALL] if spec.overall else [])
        for metric, label in spec.metrics:
            blocks.append([(label, method, [_format(cells.get((column.key, metric)), fmt, decimals)
                                            for column in columns])
                           for method, cells in cells_by_method.items()])
    else:
        for column in spec.entries:
            blocks.append([(column.key, method, [_format(cells.get((column.key, metric)), fmt, decimals)
                                                 for metric, _ in spec.metrics])
                           for method, cells in cells_by_method.items()])
    return blocks


def _header(spec):
    """Column headers after the first two (block, method): (markdown labels, latex labels, latex groups)."""
    if spec.entries_are_columns:
        columns = list(spec.entries) + ([_OVERALL] if spec.overall else [])
        return [c.markdown for c in columns], [c.latex for c in columns], [c.group for c in columns]
    labels = [label for _, label in spec.metrics]
    return labels, labels, [""] * len(labels)


def _markdown(spec, blocks, notes):
    labels, _, _ = _header(spec)
    lines = [f"Table: {spec.caption}", "",
             "| " + " | ".join([spec.block_header, "Method"] + labels) + " |",
             "| " + " | ".join(["---", "---"] + ["---:"] * len(labels)) + " |"]
    for block in blocks:
        for i, (block_label, method, cells) in enumerate(block):
            first = _markdown_escape(block_label) if i == 0 else ""
            lines.append("| " + " | ".join([first, _markdown_escape(method)] + cells) + " |")
    if notes:
        lines += [""] + notes
    return "\n".join(lines) + "\n"


def _latex(spec, blocks, notes):
    _, labels, groups = _header(spec)
    lines = [f"% {spec.caption}", r"\begin{tabular}{ll" + "r" * len(labels) + "}", r"\toprule"]
    if any(groups):
        spans = []  # (group, first column index, count), columns numbered from 1 in LaTeX with 2 in front
        for index, group in enumerate(groups):
            if spans and spans[-1][0] == group:
                spans[-1][2] += 1
            else:
                spans.append([group, index + 3, 1])
        cells = ["", ""] + [rf"\multicolumn{{{count}}}{{c}}{{{latex_escape(group)}}}" if group else
                            " & ".join([""] * count) for group, _, count in spans]
        lines.append(" & ".join(cells) + r" \\")
        lines.append(" ".join(rf"\cmidrule(lr){{{start}-{start + count - 1}}}"
                              for group, start, count in spans if group))
    lines.append(" & ".join(latex_escape(text) for text in [spec.block_header, "Method"] + labels) + r" \\")
    for block in blocks:
        lines.append(r"\midrule")
        for i, (block_label, method, cells) in enumerate(block):
            first = latex_escape(block_label) if i == 0 else ""
            lines.append(" & ".join([first, latex_escape(method)] + cells) + r" \\")
    lines += [r"\bottomrule", r"\end{tabular}"]
    lines += [f"% {note}" for note in notes]
    return "\n".join(lines) + "\n"


# Tables whose paper prints more than one decimal (WMCA grandtest's ACERs of a few tenths of a percent).
DEFAULT_DECIMALS = {"wmca_grandtest": 2}


def render_table(name, results, fmt="markdown", published=False, decimals=None):
    """Render paper table ``name`` (a key of TABLES) from {method: {entry: {metric: value}}}.

    ``published``: True for every complete published row of that table (complete_published_rows), or a list of
    names from physstd.eval.published.methods(name); those rows ("<name> (paper)") come first, then ``results`` in
    dict order. ``fmt``: "markdown" or "latex". Values print in percent with ``decimals`` decimals (default: the
    paper's, DEFAULT_DECIMALS, else 1).
    """
    if name not in TABLES:
        raise ValueError(f"unknown table {name!r}; expected one of {sorted(TABLES)}")
    if fmt not in ("markdown", "latex"):
        raise ValueError(f"unknown format {fmt!r}; expected 'markdown' or 'latex'")
    spec = TABLES[name]
    if published is True:
        published = complete_published_rows(name)
    rows = {f"{method} (paper)": published_numbers.published_results(name, method)
            for method in (published or ())}
    for method, method_results in results.items():
        if str(method) in rows:
            raise ValueError(f"method label {method!r} clashes with a published row")
        rows[str(method)] = method_results
    cells_by_method, notes = {}, []
    for method, method_results in rows.items():
        cells_by_method[method], method_notes = _cells(spec, name, method, method_results)
        notes += method_notes
    blocks = _rows(spec, cells_by_method, fmt, DEFAULT_DECIMALS.get(name, 1) if decimals is None else decimals)
    return (_latex if fmt == "latex" else _markdown)(spec, blocks, notes)


def complete_published_rows(name):
    """The published rows of table ``name`` with a value for every entry: those ``published=True`` prints. A row
    of one entry only (the LGSC paper's Tab. 5 ablations, on OULU-NPU protocol 1) prints when named."""
    entries = {column.key for column in TABLES[name].entries}
    return tuple(method for method in published_numbers.methods(name)
                 if entries <= set(published_numbers.PUBLISHED[name][method]))


def published_choice(table, published=False, rows=(), flag="--published_rows"):
    """render_table's ``published`` from the command-line flags: the list ``rows`` (names in
    physstd.eval.published.methods(table), in the order to print; an unknown one is an error naming ``flag``)
    when given, else True (every published row) or False as ``published`` says."""
    rows = [row for row in rows if row]
    if not rows:
        return bool(published)
    if table not in TABLES:
        raise ValueError(f"{flag}={','.join(rows)}: needs a paper table (--table); expected one of {sorted(TABLES)}")
    available = published_numbers.methods(table)
    for row in rows:
        if row not in available:
            raise ValueError(f"{flag}={','.join(rows)}: table {table!r} has no published row {row!r}; "
                             f"expected some of {', '.join(available)}")
    return rows


RESULTS_FORMAT_VERSION = 1


def _jsonable(value):
    if isinstance(value, metrics.MeanStd):
        return {"mean": float(value.mean), "std": float(value.std)}
    if isinstance(value, dict):
        return {str(key): _jsonable(item) for key, item in value.items()}
    if isinstance(value, (list, tuple, np.ndarray)):
        return [_jsonable(item) for item in value]
    if isinstance(value, np.generic):
        return value.item()
    return value


def save_results(path, table, results):
    """Write {method: {entry: {metric: value}}} for paper table ``table`` as JSON (MeanStd as {"mean", "std"})."""
    if table not in TABLES:
        raise ValueError(f"unknown table {table!r}; expected one of {sorted(TABLES)}")
    record = {"format_version": RESULTS_FORMAT_VERSION, "table": table, "results": _jsonable(results)}
    files.write_json_atomic(path, record)


def load_results(path):
    """(table, results) from a file written by ``save_results``; a ValueError names the file when it is not one."""
    path = os.fspath(path)
    record = files.read_json(path, "results")
    if not isinstance(record, dict) or set(record) != {"format_version", "table", "results"}:
        raise ValueError(f"{path}: expected a JSON object with keys format_version, table, results")
    if record["format_version"] != RESULTS_FORMAT_VERSION or record["table"] not in TABLES:
        raise ValueError(f"{path}: format_version {record['format_version']!r} / table {record['table']!r}; "
                         f"expected {RESULTS_FORMAT_VERSION} and one of {sorted(TABLES)}")
    if not isinstance(record["results"], dict):
        raise ValueError(f"{path}: results must be an object {{method: {{entry: {{metric: value}}}}}}")
    return record["table"], record["results"]


def default_row_label(folds):
    """Our row's label where none is given: the display name of the method the folds' models trained, with
    "(ours)" (e.g. "PhySTD (ours)", "DeSpoof (ours)"); a fold that names no method is a PhySTD run's."""
    return f"{methods.get(folds[0].get('method') or methods.DEFAULT).display_name} (ours)"


def evaluation_tables(path, table="", entry="", row_label=""):
    """(table, results) of a results.json written by run_test.py (physstd.eval.evaluate): with `table`, our row of
    that paper table (entry as run_test.py --table_entry; default the protocol name without a leading 'p'; row_label
    "": default_row_label); without it (None, per-fold summary as Markdown)."""
    record = files.read_json(path, "results")
    if not isinstance(record, dict) or not isinstance(record.get("folds"), list) or not record["folds"]:
        raise ValueError(f"{path}: expected the results.json of run_test.py or a table file of save_results")
    for fold in record["folds"]:
        if isinstance(fold, dict) and isinstance(fold.get("metrics"), dict):
            _check_metric_keys(fold["metrics"], f"{path}: fold {fold.get('fold')!r}")
    if not table:
        return None, evaluate.summary_markdown(record["folds"])
    if table not in TABLES:
        raise ValueError(f"--table={table!r}: expected one of {', '.join(sorted(TABLES))}")
    protocol = str(record.get("protocol", ""))
    entry = entry or (protocol[1:] if protocol[:1] == "p" and protocol[1:].isdigit() else protocol)
    row_label = row_label or default_row_label(record["folds"])
    return table, {row_label: evaluate.table_results(table, record["folds"], entry)}


def main(argv=None):
    """``python -m physstd.eval.tables FILE.json [...] [--latex] [--published | --published_rows=A,B]``: print each
    file's table. A file is
    a table file (save_results, run_test.py --table's table.json) or run_test.py's results.json (its per-fold
    summary, or with --table the paper table with our row)."""
    parser = argparse.ArgumentParser(prog="python -m physstd.eval.tables", description=main.__doc__)
    parser.add_argument("results", nargs="+", help="table.json (save_results) or results.json (run_test.py)")
    parser.add_argument("--table", default="", help="results.json: print this paper table: "
                        + ", ".join(sorted(TABLES)))
    parser.add_argument("--table_entry", default="", help="results.json with --table: the table column/block "
                        "(as run_test.py --table_entry)")
    parser.add_argument("--row_label", default="", help="results.json: row label of the results (default: the "
                        "method's display name and '(ours)', e.g. 'PhySTD (ours)')")
    parser.add_argument("--method", default=None, help=argparse.SUPPRESS)   # the former spelling of --row_label
    parser.add_argument("--latex", action="store_true", help="LaTeX (booktabs) instead of Markdown")
    parser.add_argument("--published", nargs="?", const="all", default="",
                        help="add every published row of the table (or, as --published_rows, a comma-separated "
                        "list such as PhySTD,STDN)")
    parser.add_argument("--published_rows", default="",
                        help="add these published rows, in this order, e.g. Auxiliary,DeSpoof (implies --published)")
    parser.add_argument("--decimals", type=int, default=None,
                        help="decimals of the percentages (default: the paper's, 2 for wmca_grandtest, else 1)")
    args = parser.parse_args(argv)
    if args.decimals is not None:
        cli.check_range("decimals", args.decimals, cli.Range(0, 9))
    if args.method is not None:
        raise ValueError(f"--method={args.method}: the row label is now --row_label (the method of a run comes from "
                         f"its flags.json)")
    for path in args.results:
        try:
            text = _file_table(path, args)
        except ValueError as error:   # name the file in every message about its content
            message = str(error)
            named = message.startswith((f"{path}:", "--"))
            raise ValueError(message if named else f"{path}: {message}") from None
        print(text)


def _file_table(path, args):
    """The text main() prints for one file."""
    record = files.read_json(path, "results")
    if isinstance(record, dict) and "folds" in record:    # run_test.py's results.json
        try:
            table, results = evaluation_tables(path, args.table, args.table_entry, args.row_label)
        except (KeyError, TypeError, AttributeError) as error:   # a fold without the fields run_test.py writes
            raise ValueError(f"expected the results.json of run_test.py; a fold lacks or mistypes {error}") from None
        if table is None:
            return results
    else:
        table, results = load_results(path)
    if args.published_rows:
        chosen = published_choice(table, True, args.published_rows.split(","))
    elif args.published == "all":
        chosen = True
    else:
        chosen = published_choice(table, False, args.published.split(","), flag="--published")
    return render_table(table, results, fmt="latex" if args.latex else "markdown", published=chosen,
                        decimals=args.decimals)


if __name__ == "__main__":
    sys.exit(cli.guarded(main)(sys.argv[1:]))
