"""Timing shared by the benchmarks."""
import time

import numpy as np


def median_seconds(function, repeats):
    """Median wall time of function() in seconds over `repeats` calls, after one untimed warm-up call."""
    function()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return float(np.median(times))
