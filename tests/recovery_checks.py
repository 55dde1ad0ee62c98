"""A method's trace recovery against the same numbers from a TraceModel built by hand in the test."""
import os

import pytest


def assert_recovery_matches(result, hand, root):
    """`result` (trace_recovery.recovery_of_run of a run on the toy set at `root`, test split) equals the recovery
    of `hand` (a physstd.methods.base.TraceModel) on the same videos, type by type; no type has a region."""
    from physstd.data import protocols
    from physstd.eval import trace_recovery

    ids = protocols.load_split(os.path.join(root, "protocols"), "identity", "test")
    expected = trace_recovery.recovery_on_split(hand, root, ids)
    assert list(result) == list(expected) and "all spoof types" in result
    for name, values in expected.items():
        assert result[name]["frames"] == values["frames"] > 0, name
        assert result[name]["correlation"] == pytest.approx(values["correlation"], abs=1e-5), name
        assert "mask" not in result[name]
