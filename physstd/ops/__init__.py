"""Pure-TF ops of PhySTD: frequency split (Eq. 9), dense warping (Eq. 15), triangulation -> dense offsets
(Eq. 13-14), RGB to HSV (the Auxiliary and De-Spoof input). `triangle_barycentrics` is numpy (input pipeline);
the rest run in-graph and under XLA."""
from physstd.ops.color import rgb_to_hsv
from physstd.ops.frequency import (DEFAULT_LOWPASS, LOWPASS_MODES, area_matrix, decompose, lowpass,
                                   resize_separable, shrink, triangle_matrix)
from physstd.ops.triangulation import dense_offsets, triangle_barycentrics
from physstd.ops.warp import dense_warp

__all__ = ["lowpass", "decompose", "shrink", "resize_separable", "area_matrix", "triangle_matrix", "LOWPASS_MODES",
           "DEFAULT_LOWPASS", "dense_warp", "triangle_barycentrics", "dense_offsets", "rgb_to_hsv"]
