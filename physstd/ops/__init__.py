"""Pure-TF ops of PhySTD: frequency split (Eq. 9), dense warping (Eq. 15), triangulation -> dense offsets
(Eq. 13-14). `triangle_barycentrics` is numpy (input pipeline); the rest run in-graph and under XLA."""
from physstd.ops.frequency import decompose, lowpass
from physstd.ops.triangulation import dense_offsets, triangle_barycentrics
from physstd.ops.warp import dense_warp

__all__ = ["lowpass", "decompose", "dense_warp", "triangle_barycentrics", "dense_offsets"]
