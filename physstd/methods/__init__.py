"""The methods the harness trains and evaluates, by name: `get(name)` -> the method's `METHOD` (physstd.methods.base).

Adding a method: a folder physstd/methods/<name>/ whose __init__.py defines METHOD (a physstd.methods.base.Method;
the folder holds its networks, losses, trainer and config) and one line in MODULES. A method's folder is imported
by name on first use (importlib), never by an import statement here: the shared code reaches a method only through
`get`, and `import physstd.methods` (done by the flag definitions) stays light.
"""
import importlib

from physstd import runs

DEFAULT = runs.DEFAULT_METHOD
# name -> the method's folder (a package defining METHOD)
MODULES = {
    "physstd": "physstd.methods.physstd",
    "auxiliary": "physstd.methods.auxiliary",
    "despoof": "physstd.methods.despoof",
    "lgsc": "physstd.methods.lgsc",
    "mmdn": "physstd.methods.mmdn",
}
NAMES = tuple(MODULES)   # the built-in methods


def names():
    """Every method name, sorted."""
    return tuple(sorted(MODULES))


def check_name(name, where="--method"):
    """`name` when it is a method; else one ValueError naming `where` and the choices."""
    if name not in MODULES:
        raise ValueError(f"{where}: unknown method {name!r}; expected one of {', '.join(names())}")
    return name


def get(name, where="--method"):
    """The METHOD object of a method name (ValueError naming `where` and the choices for an unknown one)."""
    return importlib.import_module(MODULES[check_name(name, where)]).METHOD


def of_run(run_dir):
    """The METHOD of a run directory (flags.json 'method'; a run without one is a PhySTD run)."""
    record = runs.read_run_flags(run_dir)
    return get(runs.run_method(record), f"{run_dir}/{runs.FLAGS_FILE}")
