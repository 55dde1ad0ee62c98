"""Evaluate a trained model on a protocol: `python run_test.py --run_dir=runs/<name> [--table=siwm_p1 --published]`
(--published: every row the paper prints for that table and physstd.eval.published keeps; --published_rows=
Auxiliary,DeSpoof: only those, in that order).

--run_dir takes a run directory or a SavedModel export, or one per fold (comma-separated) of a multi-fold protocol;
the method (physstd.methods) is the one the run trained (its flags.json; PhySTD for runs that name none).
The method's score parameters (PhySTD: alpha0) and the threshold are chosen on --calibration_split (dev, or train;
never test), the threshold by --threshold_rule (eer: APCER = BPCER there; bpcer: BPCER at most --threshold_bpcer
there, 1% by default, as the multi-modal paper sets it), and saved as <run_dir>/calibration.json; the test split is scored per video (mean frame score) or per
frame (--frame_level). --row_label names our row in a --table (it was --method before the harness).
Writes <output_dir>/[fold_<k>/]scores.csv and frame_scores.csv, results.json and roc_det.png
(physstd/eval/evaluate.py documents the formats), then prints the metrics and, with --table, the paper's layout.
"""
import re
import shlex
import sys

from absl import app, flags

from physstd import cli

TABLE_NAMES = ("", "oulu", "siw", "siwm_p1", "siwm_p2", "siwm_p3", "casia_replay", "cross_type_auc", "siw_to_oulu")

flags.DEFINE_list("run_dir", [], "run directory or SavedModel export; one per fold for a multi-fold protocol")
flags.DEFINE_string("data_root", "", "prepared dataset root (default: the run's --data_root)")
flags.DEFINE_string("split_dir", "", "protocol split lists folder (default: the run's, else <data_root>/protocols)")
flags.DEFINE_string("protocol", "", "protocol folder name (default: the run's --protocol)")
flags.DEFINE_list("folds", [], "fold of each --run_dir entry (default: each run's training --fold)")
flags.DEFINE_enum("calibration_split", "dev", ["dev", "train"],
                  "split on which the score parameters (PhySTD: alpha0) and the threshold are chosen (dev falls "
                  "back to train when the protocol has no dev list); never test")
flags.DEFINE_enum("threshold_rule", "eer", ["eer", "bpcer"],
                  "how the threshold is chosen on the calibration split: eer (the equal error rate's threshold) or "
                  "bpcer (the lowest threshold with BPCER <= --threshold_bpcer there; docs/evaluation.md); written "
                  "into calibration.json, which export and predict then apply unchanged")
flags.DEFINE_float("threshold_bpcer", None, "target BPCER of --threshold_rule=bpcer (default 0.01)")
flags.DEFINE_bool("frame_level", False, "score every frame on its own instead of one mean score per video")
flags.DEFINE_bool("use_saved_calibration", False,
                  "use the saved calibration (<run_dir>/calibration.json or a former alpha0.json, or the export's) "
                  "instead of choosing it "
                  "again, e.g. for cross-dataset tests whose threshold comes from the training dataset")
flags.DEFINE_integer("batch_size", 32, "evaluation batch size")
flags.DEFINE_string("output_dir", None, "output folder (default <run_dir>/eval/<protocol> for one run directory)")
flags.DEFINE_enum("table", "", TABLE_NAMES, "also print this paper table (physstd.eval.tables) with our row")
flags.DEFINE_string("table_entry", "", "table column/block of this protocol: 1..4 (oulu, siw_to_oulu), 1..3 (siw), "
                    "1, 2, 4 (cefa), grandtest (wmca_grandtest), casia_to_replay / replay_to_casia, or casia / "
                    "replay / msu for cross_type_auc; "
                    "default: the number of a protocol named p<k> or ..._p<k>, else the protocol name")
flags.DEFINE_string("row_label", "", "row label of our results in the table (default: the run's method's display "
                    "name and '(ours)', e.g. 'PhySTD (ours)', 'DeSpoof (ours)')")
# Before the harness --method was the row label; the method now comes from the run, so the old spelling is refused.
flags.DEFINE_string("method", None, "not a flag of run_test.py any more: the row label is --row_label, and the "
                    "method is read from the run's flags.json")
flags.DEFINE_bool("published", False, "print every published row of --table above ours")
flags.DEFINE_list("published_rows", [], "print only these published rows of --table, in this order, e.g. "
                  "Auxiliary,DeSpoof (implies --published)")
flags.DEFINE_bool("latex", False, "print the table as LaTeX instead of Markdown")
FLAGS = flags.FLAGS
cli.register_ranges({"batch_size": cli.at_least(1), "threshold_bpcer": cli.Range(0, 1, low_open=True, high_open=True)})


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {' '.join(argv[1:])}")
    if FLAGS.method is not None:
        raise app.UsageError(f"--method={FLAGS.method}: run_test.py takes the method from the run's flags.json; "
                             f"the table row label is now --row_label")
    import tensorflow as tf

    from physstd.eval import evaluate, scoring, tables

    tf.get_logger().setLevel("WARNING")
    try:
        published = tables.published_choice(FLAGS.table, FLAGS.published, FLAGS.published_rows)   # before the work
        rule = None   # the default: EER, or with --use_saved_calibration the saved rule
        if FLAGS["threshold_rule"].present or FLAGS.threshold_bpcer is not None:
            rule = scoring.threshold_rule(FLAGS.threshold_rule, FLAGS.threshold_bpcer, "--threshold_rule")
        record, fold_results = evaluate.evaluate_models(
            FLAGS.run_dir, FLAGS.output_dir, FLAGS.data_root, FLAGS.split_dir, FLAGS.protocol, FLAGS.folds or None,
            FLAGS.calibration_split, FLAGS.frame_level, FLAGS.use_saved_calibration, FLAGS.batch_size,
            apcer=evaluate.TABLE_APCER.get(FLAGS.table), rule=rule)   # the table's APCER; else the protocol's
        print(evaluate.summary_markdown(fold_results))
        if FLAGS.table:
            protocol = record["protocol"]
            numbered = re.fullmatch(r"(?:.*_)?p(\d+)", protocol)   # p1 -> 1, siw_to_oulu_p3 -> 3
            entry = FLAGS.table_entry or (numbered.group(1) if numbered else protocol)
            row_label = FLAGS.row_label or tables.default_row_label(fold_results)
            results = {row_label: evaluate.table_results(FLAGS.table, fold_results, entry)}
            table_path = record["files"]["results"].replace("results.json", "table.json")
            tables.save_results(table_path, FLAGS.table, results)
            print(tables.render_table(FLAGS.table, results, fmt="latex" if FLAGS.latex else "markdown",
                                      published=published))
            rows = (shlex.quote(f"--published_rows={','.join(published)}") if isinstance(published, list)
                    else "--published")   # quoted: Tab. 3's ablation row names have spaces
            print(f"table: {table_path} (reprint: python -m physstd.eval.tables {shlex.quote(table_path)} {rows})")
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(f"results: {record['files']['results']}\nROC/DET: {record['files']['roc_det']}")
    return 0


if __name__ == "__main__":
    cli.run(main)
