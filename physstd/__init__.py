"""physstd: Physics-Guided Spoof Trace Disentanglement (PhySTD) for face anti-spoofing, in TF2/Keras 3."""
__version__ = "0.1.0"


def lazy_attributes(package, modules):
    """A module `__getattr__` for `package` that imports each name of {name: module} on first use, so that importing
    the package stays free of TensorFlow until one of those names is used."""
    import importlib

    def __getattr__(name):
        if name in modules:
            return getattr(importlib.import_module(modules[name]), name)
        raise AttributeError(f"module {package!r} has no attribute {name!r}")
    return __getattr__
