"""The methods the harness trains and evaluates, by name: `get(name)` -> the method's `METHOD` (physstd.methods.base).

Adding a method: a module physstd/methods/<module>.py defining METHOD (a physstd.methods.base.Method) and one line
in MODULES. Modules are imported on first use, so `import physstd.methods` (done by the flag definitions) stays
light. `register` adds a method object directly (tests use it for a throw-away method).
"""
import importlib

DEFAULT = "physstd"
# name -> module defining METHOD
MODULES = {
    "physstd": "physstd.methods.physstd",
    "auxiliary": "physstd.methods.auxiliary",
    "despoof": "physstd.methods.despoof",
}
NAMES = tuple(MODULES)   # the built-in methods (names() adds the registered ones)
_REGISTERED = {}


def names():
    """Every method name, sorted."""
    return tuple(sorted(set(MODULES) | set(_REGISTERED)))


def check_name(name, where="--method"):
    """`name` when it is a method; else one ValueError naming `where` and the choices."""
    if name not in MODULES and name not in _REGISTERED:
        raise ValueError(f"{where}: unknown method {name!r}; expected one of {', '.join(names())}")
    return name


def get(name, where="--method"):
    """The METHOD object of a method name (ValueError naming `where` and the choices for an unknown one)."""
    check_name(name, where)
    if name in _REGISTERED:
        return _REGISTERED[name]
    return importlib.import_module(MODULES[name]).METHOD


def register(method):
    """Make `method` (a Method with a new name) available under method.name; returns it. For tests and plug-ins."""
    if not method.name or method.name in MODULES:
        raise ValueError(f"cannot register a method named {method.name!r} (empty, or a built-in method's name)")
    _REGISTERED[method.name] = method
    return method


def unregister(name):
    """Remove a method added with `register`."""
    _REGISTERED.pop(name, None)


def of_run(run_dir):
    """The METHOD of a run directory (flags.json 'method'; a run without one is a PhySTD run)."""
    from physstd import runs

    record = runs.read_run_flags(run_dir)
    return get(runs.run_method(record), f"{run_dir}/{runs.FLAGS_FILE}")
