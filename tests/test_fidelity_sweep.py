"""benchmarks.fidelity_sweep's table on hand-made run records (no training)."""
from benchmarks import fidelity_sweep

TYPES = fidelity_sweep.WHOLE_FACE + fidelity_sweep.LOCAL + fidelity_sweep.REGION


def _record(auc, acer, correlation, positive, beats, iou=None):
    types = {name: {"correlation": correlation, "positive": positive, "videos": 10, "beats_other": beats,
                    "paired": 8, "iou": iou if name in fidelity_sweep.REGION else None} for name in TYPES}
    return {"auc": auc, "acer": acer, "types": types}


def _cells(line):
    return [cell.strip() for cell in line.strip().strip("|").split("|")]


def test_mean_sample_std_pooled_counts_and_sign_tests():
    records = [_record(0.98, 0.10, 0.2, 9, 6, iou=0.0), _record(0.96, 0.20, 0.4, 10, 8, iou=0.5)]
    lines = fidelity_sweep.table({"all": records}).splitlines()
    cells = _cells(lines[2])
    assert cells[:4] == ["all", "2", "97.00 ± 1.41", "15.00 ± 7.07"]   # sample std of (98, 96): sqrt(2) = 1.414
    assert cells[4] == "0.300 ± 0.141 (19/20; 14/16)"                 # print: correlations 0.2, 0.4; pooled counts
    assert cells[8:10] == ["0.250 ± 0.354", "0.250 ± 0.354"]          # region IoU of the two seeds
    # print + replay pooled: 38 of 40 positive; sign test P(X >= 38), X ~ B(40, 1/2) = (1 + 40 + 780) / 2^40.
    assert cells[10] == f"38/40 ({821 / 2 ** 40:.2g})"
    assert cells[11].startswith("28/32 (")


def test_a_method_without_a_trace_gets_detection_and_dashes():
    no_trace = {"auc": 0.95, "acer": 0.25, "types": {}}
    lines = fidelity_sweep.table({"auxiliary": [no_trace]}).splitlines()
    cells = _cells(lines[2])
    assert cells[:4] == ["auxiliary", "1", "95.00", "25.00"]
    assert cells[4:] == ["-"] * (len(_cells(lines[0])) - 4)
