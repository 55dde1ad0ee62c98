"""LGSC ("Learning Generalized Spoof Cues for Face Anti-spoofing", Feng et al. 2020): face anti-spoofing as anomaly
detection. A U-Net produces a spoof cue C that is regressed to zero on live faces only, a triplet loss separates live
from spoof features at five scales, and an auxiliary classifier on the input plus the cue amplifies it.

    networks.py  the cue generator (ResNet-18 encoder, InstanceNorm decoder) and the auxiliary classifier, the size
                 check, and the loader of torchvision resnet18 weights into the encoder
    losses.py    L_r, the five-scale triplet loss, L_a, their weighted sum (Eq. 6-9) and the score terms (Eq. 10)
    patches.py   the seeded training patches (the faces are cropped, never resized)

The cue is LGSC's spoof trace: score term cue_magnitude = mean |C| (higher = attack), the classifier's p(spoof) a
second term; trace recovery compares C / 2 with an additive trace (x = 2I - 1 doubles image differences).
"""
