"""The fidelity sweep's table (physstd.eval.fidelity) on hand-made run records (no training), and its check that a
run is still training."""
from physstd.eval import fidelity

TYPES = fidelity.WHOLE_FACE + fidelity.LOCAL + fidelity.REGION


def _record(auc, acer, correlation, positive, beats, iou=None, template=0.45):
    types = {name: {"correlation": correlation, "effect": correlation / 2, "positive": positive, "videos": 10,
                    "beats_template": beats, "frame_videos": 8, "excess": correlation / 10,
                    "iou": iou if name in fidelity.REGION else None,
                    "references": {"template": template, "colour map": 0.8}} for name in TYPES}
    return {"auc": auc, "acer": acer, "types": types, "data": "demo"}


def _cells(line):
    return [cell.strip() for cell in line.strip().strip("|").split("|")]


def test_mean_sample_std_pooled_counts_and_sign_tests():
    records = [_record(0.98, 0.10, 0.2, 9, 6, iou=0.0), _record(0.96, 0.20, 0.4, 10, 8, iou=0.5, template=0.55)]
    lines = fidelity.table({"all": records}).splitlines()
    cells = _cells(lines[2])
    assert cells[:4] == ["all", "2", "97.00 ± 1.41", "15.00 ± 7.07"]   # sample std of (98, 96): sqrt(2) = 1.414
    assert cells[4:7] == ["0.300 ± 0.141", "0.150 ± 0.071", "14/16, 0.030 ± 0.014"]   # print: T_A, effect, frame
    assert cells[12:14] == ["0.250 ± 0.354", "0.250 ± 0.354"]          # region IoU of the two seeds
    # print + replay pooled: 28 of 32 beat the template; sign test P(X >= 28), X ~ B(32, 1/2).
    from math import comb
    assert cells[14] == f"28/32 ({sum(comb(32, k) for k in range(28, 33)) / 2 ** 32:.2g})"
    # The reference rows: the template's correlation averaged over the runs, no detection columns.
    template = _cells(lines[3])
    assert template[:5] == ["template (reference)", "2", "-", "-", "0.500 ± 0.071"]
    assert _cells(lines[4])[:5] == ["colour map (reference)", "2", "-", "-", "0.800 ± 0.000"]
    # Runs on two sets get reference rows per set (their train splits differ).
    other = dict(_record(0.9, 0.1, 0.1, 5, 4, template=0.7), data="control")
    lines = fidelity.table({"all": records, "control": [other]}).splitlines()
    assert [_cells(line)[:2] for line in lines[4:]] == [["template (reference, demo)", "2"], ["colour map (reference, demo)", "2"],
                                                         ["template (reference, control)", "1"],
                                                         ["colour map (reference, control)", "1"]]


def test_depth_trace_columns_appear_when_a_run_has_a_depth_trace():
    plain = [_record(0.98, 0.10, 0.2, 9, 6)]
    assert "depth-trace" not in fidelity.table({"all": plain})
    rgbd = [_record(0.90, 0.20, 0.1, 6, 5), _record(0.94, 0.30, 0.3, 7, 6)]
    for record, value in zip(rgbd, (0.2, 0.4)):
        record["types"]["print"]["depth"], record["types"]["replay"]["depth"] = value, -value
    lines = fidelity.table({"all": plain, "mmdn": rgbd}).splitlines()
    header = _cells(lines[0])
    assert header[-2:] == ["print depth-trace r", "replay depth-trace r"]
    assert _cells(lines[3])[-2:] == ["0.300 ± 0.141", "-0.300 ± 0.141"]   # mean, sample std of (0.2, 0.4)
    assert _cells(lines[2])[-2:] == ["-", "-"]                            # a run without one
    assert all(len(_cells(line)) == len(header) for line in lines[2:])


def test_a_method_without_a_trace_gets_detection_and_dashes():
    no_trace = {"auc": 0.95, "acer": 0.25, "types": {}}
    lines = fidelity.table({"auxiliary": [no_trace]}).splitlines()
    cells = _cells(lines[2])
    assert cells[:4] == ["auxiliary", "1", "95.00", "25.00"]
    assert cells[4:] == ["-"] * (len(_cells(lines[0])) - 4)


def test_a_run_still_held_by_a_trainer_is_not_scored(tmp_path):
    from physstd.train.run_lock import RunDirLock, held

    holder = RunDirLock(str(tmp_path))
    holder.acquire()
    try:
        assert held(str(tmp_path))
    finally:
        holder.release()
    assert not held(str(tmp_path))
    assert not (tmp_path / ".train.lock").exists()   # the check leaves no lock file behind
