"""physstd: Physics-Guided Spoof Trace Disentanglement (PhySTD) for face anti-spoofing, in TF2/Keras 3."""
__version__ = "0.1.0"
