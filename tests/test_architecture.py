"""The import rules of the package, checked on its import graph as the source states it (every import statement at
any depth, function-local ones included, relative ones resolved).

Layout. Each module of physstd belongs to one node below; a node imports only itself and the nodes ALLOWED lists
for it, and neither the modules nor the nodes import each other in a cycle. Low to high:

    utilities   physstd, physstd.files, physstd.cli, physstd.config, physstd.records, physstd.ops
    data        physstd.data (the prepared layout, the input pipeline, protocols, the synthetic set)
    models      physstd.models (ModelConfig and the layers the methods' networks share), physstd.trace (the trace
                algebra of Eq. 3-15), physstd.viz (figures)
    scoring     physstd.eval.metrics, physstd.eval.scoring (the method-neutral score, per-video means, the
                calibration file)
    runs        physstd.runs (reading a run directory)
    registry    physstd.methods (the registry) and physstd.methods.base (the Method interface)
    trainer     physstd.train.trainer: the base of every method's trainer
    method:X    physstd.methods.X, one node per method folder: its config, networks, losses, trainer, score. The
                registry imports a folder by name (importlib), not by an import statement; a folder imports
                another only where METHOD_DEPENDENCIES says (De-Spoof's DQ-Net is the Auxiliary network).
    train       the rest of physstd.train: the loop, its flags and config, checkpoints (a method only through the
                registry)
    export      physstd.export (reads a method only through the registry)
    deploy      physstd.deploy: the LiteRT and ONNX conversions of an export and the loader of every format
    eval        the rest of physstd.eval (evaluates a run through the registry, or an export)
    predict     physstd.predict (an export, through the registry)
    apps        physstd.apps: applications over the whole package (the demo)

A lazy (function-local) import of a physstd module stays only where it keeps its module free of TensorFlow, and a
comment on its line says so (test_lazy_imports_keep_tensorflow_out_and_say_so).
"""
import ast
import os
import subprocess
import sys
import textwrap

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PACKAGE = os.path.join(ROOT, "physstd")

# module (exact name or package prefix) -> node; the longest matching entry wins. Method folders: method:<name>.
NODES = {
    "physstd": "utilities", "physstd.files": "utilities", "physstd.cli": "utilities", "physstd.config": "utilities",
    "physstd.records": "utilities", "physstd.ops": "utilities",
    "physstd.data": "data",
    "physstd.models": "models", "physstd.trace": "models", "physstd.viz": "models",
    "physstd.eval.metrics": "scoring", "physstd.eval.scoring": "scoring",
    "physstd.runs": "runs",
    "physstd.methods": "registry", "physstd.methods.base": "registry",
    "physstd.train.trainer": "trainer",
    "physstd.train": "train",
    "physstd.export": "export",
    "physstd.deploy": "deploy",
    "physstd.eval": "eval",
    "physstd.predict": "predict",
    "physstd.apps": "apps",
}
BELOW_METHODS = {"utilities", "data", "models", "scoring", "runs", "registry", "trainer"}
ALLOWED = {
    "utilities": set(),
    "data": {"utilities"},
    "models": {"utilities", "data"},
    "scoring": {"utilities"},
    "runs": {"utilities"},
    "registry": {"utilities", "runs"},
    "trainer": {"utilities", "models", "runs"},
    "method": BELOW_METHODS,
    "train": BELOW_METHODS,
    "export": {"utilities", "runs", "scoring", "registry"},
    "deploy": {"utilities", "data", "runs", "scoring", "registry", "export"},
    "eval": {"utilities", "data", "models", "scoring", "runs", "registry", "export"},
    "predict": {"utilities", "data", "models", "registry", "export", "deploy"},
    "apps": None,   # anything
}
METHOD_DEPENDENCIES = {"despoof": {"auxiliary"}, "mmdn": {"lgsc"}}


# --- the graph ----------------------------------------------------------------------------------------------------
def package_sources(package_dir=PACKAGE):
    """{module name: source text} of every .py file under the package folder."""
    sources = {}
    base = os.path.dirname(package_dir)
    for folder, _, names in os.walk(package_dir):
        for name in names:
            if name.endswith(".py"):
                path = os.path.join(folder, name)
                parts = os.path.relpath(path, base)[:-len(".py")].split(os.sep)
                module = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
                with open(path) as stream:
                    sources[module] = stream.read()
    return sources


def imported_names(module, source, is_package):
    """The dotted names one module's source imports, at any depth: `import a.b` gives a.b, `from a import b` gives
    a.b; relative imports resolved against the module's package."""
    names = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:   # relative: from the module's package, one level up per extra dot
                package = module.split(".") if is_package else module.split(".")[:-1]
                package = package[:len(package) - node.level + 1]
                base = ".".join(package + ([base] if base else []))
            names += [f"{base}.{alias.name}" for alias in node.names]
    return names


def import_graph(sources, packages=None):
    """{module: {modules of `sources` it imports}} of {module: source}: an imported name reaches the module of that
    name, else its nearest enclosing module (`from a.b import function` reaches a.b). `packages`: the modules that
    are packages (default: those another module's name extends)."""
    if packages is None:
        packages = {module for module in sources if any(other.startswith(module + ".") for other in sources)}
    graph = {}
    for module, source in sources.items():
        targets = set()
        for name in imported_names(module, source, module in packages):
            while name and name not in sources:
                name = name.rpartition(".")[0]
            if name and name != module:
                targets.add(name)
        graph[module] = targets
    return graph


def node_of(module):
    """The node of a physstd module (module doc)."""
    parts = module.split(".")
    if len(parts) >= 3 and parts[:2] == ["physstd", "methods"] and parts[2] != "base":
        return f"method:{parts[2]}"
    for length in range(len(parts), 0, -1):
        prefix = ".".join(parts[:length])
        if prefix in NODES:
            return NODES[prefix]
    raise KeyError(f"{module}: no node in NODES")


def node_graph(graph):
    """{node: {nodes it imports}} of a module graph."""
    nodes = {}
    for module, targets in graph.items():
        nodes.setdefault(node_of(module), set()).update(node_of(t) for t in targets)
    return {node: targets - {node} for node, targets in nodes.items()}


def cycles(graph):
    """The cycles of a directed graph {vertex: {vertices}}, one per strongly connected component of more than one
    vertex (or a vertex importing itself), each as a sorted list."""
    index, low, stack, on_stack, found, counter = {}, {}, [], set(), [], [0]

    def visit(vertex):   # Tarjan's algorithm
        index[vertex] = low[vertex] = counter[0]
        counter[0] += 1
        stack.append(vertex)
        on_stack.add(vertex)
        for target in graph.get(vertex, ()):
            if target not in index:
                visit(target)
                low[vertex] = min(low[vertex], low[target])
            elif target in on_stack:
                low[vertex] = min(low[vertex], index[target])
        if low[vertex] == index[vertex]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == vertex:
                    break
            if len(component) > 1 or vertex in graph.get(vertex, ()):
                found.append(sorted(component))

    for vertex in sorted(graph):
        if vertex not in index:
            visit(vertex)
    return found


def forbidden_arrows(graph):
    """["module -> module (node -> node)"] of every import against the layout (module doc)."""
    wrong = []
    for module, targets in sorted(graph.items()):
        source = node_of(module)
        kind, _, method = source.partition(":")
        allowed = ALLOWED[kind]
        for target in sorted(targets):
            node = node_of(target)
            if allowed is None or node == source or node in allowed:
                continue
            if kind == "method" and node.partition(":")[2] in METHOD_DEPENDENCIES.get(method, ()):
                continue
            wrong.append(f"{module} -> {target} ({source} -> {node})")
    return wrong


@pytest.fixture(scope="module")
def graph():
    return import_graph(package_sources())


# --- the tree -----------------------------------------------------------------------------------------------------
def test_every_module_has_a_node_and_every_registered_method_is_a_folder(graph):
    from physstd import methods

    nodes = {node_of(module) for module in graph}   # a module without a node raises here
    assert {f"method:{name}" for name in methods.NAMES} <= nodes
    assert set(methods.MODULES.values()) == {f"physstd.methods.{name}" for name in methods.NAMES}
    assert all(f"physstd.methods.{name}" in graph for name in methods.NAMES)   # a package: the folder's __init__


def test_the_package_has_no_import_cycle_of_modules_or_of_nodes(graph):
    assert cycles(graph) == []
    assert cycles(node_graph(graph)) == []


def test_every_import_follows_the_layout(graph):
    assert forbidden_arrows(graph) == []


def test_the_registry_reaches_a_method_only_by_name_and_the_harness_only_through_the_registry(graph):
    """Outside its own folder, a method's modules are imported by the applications and by the methods that build on
    it (METHOD_DEPENDENCIES) only."""
    arrows = {(node_of(module), node_of(target)) for module, targets in graph.items() for target in targets}
    into_methods = {(source, target) for source, target in arrows if target.startswith("method:") and source != target}
    assert {(source, target) for source, target in into_methods if source != "apps"} == \
        {(f"method:{method}", f"method:{other}") for method, others in METHOD_DEPENDENCIES.items() for other in others}


def function_local_imports(source):
    """The import statements of a source that run inside a function (not when the module is imported)."""
    found = []

    def visit(node, in_function):
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.Import, ast.ImportFrom)) and in_function:
                found.append(child)
            visit(child, in_function or isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)))

    visit(ast.parse(source), False)
    return found


def test_lazy_imports_keep_tensorflow_out_and_say_so():
    """A function-local import of a physstd module (outside the applications) carries a comment naming TensorFlow on
    its line: the one reason to keep it there (module doc)."""
    unexplained = []
    for module, source in package_sources().items():
        if node_of(module) == "apps":
            continue
        lines = source.splitlines()
        for node in function_local_imports(source):
            names = [alias.name for alias in node.names] if isinstance(node, ast.Import) else [node.module or "."]
            if any(name.startswith(("physstd", ".")) for name in names) and "TensorFlow" not in lines[node.lineno - 1]:
                unexplained.append(f"{module}:{node.lineno}: {lines[node.lineno - 1].strip()}")
    assert unexplained == []


# --- the checks themselves ------------------------------------------------------------------------------------------
PLANTED = {
    "physstd": "",
    "physstd.files": "",
    "physstd.data": "",
    "physstd.data.prepared": "from physstd import files\n",
    "physstd.data.pipeline": "def load():\n    from . import spoof_types\n",
    "physstd.data.spoof_types": "def names():\n    from physstd.data.pipeline import load\n",
    "physstd.runs": "from physstd import files\n",
    "physstd.methods": "import importlib\nfrom physstd import runs\n",
    "physstd.methods.physstd": "from physstd.methods.base import Method\n",
    "physstd.methods.base": "",
    "physstd.train": "",
    "physstd.train.loop": "from physstd import methods\n",
}


def test_a_planted_cycle_through_a_function_local_relative_import_is_found():
    graph = import_graph(PLANTED)
    assert graph["physstd.data.pipeline"] == {"physstd.data.spoof_types"}   # `from . import` resolved
    assert cycles(graph) == [["physstd.data.pipeline", "physstd.data.spoof_types"]]
    assert cycles(node_graph(graph)) == []   # one node: a module cycle inside it
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"d"}}) == [["a", "b", "c"], ["d"]]


def test_a_planted_arrow_against_the_layout_and_a_planted_node_cycle_are_found():
    planted = dict(PLANTED, **{"physstd.data.spoof_types": "",
                               "physstd.data.prepared": "def f():\n    from physstd.train import loop\n"})
    graph = import_graph(planted)
    assert cycles(graph) == []
    assert forbidden_arrows(graph) == ["physstd.data.prepared -> physstd.train.loop (data -> train)"]
    # The loop importing a method folder directly (not through the registry), and the folder importing the loop.
    planted.update({"physstd.data.prepared": "", "physstd.train.loop": "from physstd.methods import physstd\n",
                    "physstd.methods.physstd": "from physstd.train import loop\n"})
    graph = import_graph(planted)
    assert cycles(node_graph(graph)) == [["method:physstd", "train"]]
    assert forbidden_arrows(graph) == ["physstd.methods.physstd -> physstd.train.loop (method:physstd -> train)",
                                       "physstd.train.loop -> physstd.methods.physstd (train -> method:physstd)"]


# --- at run time ----------------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def method_runs(tmp_path_factory):
    """{method: run directory} of every registered method: its trainer built (no step) and saved as a run is, in this
    process; De-Spoof's DQ-Net is the Auxiliary run's (methods needing another's run name it in OTHER_RUNS)."""
    import keras
    import tensorflow as tf

    from physstd import methods, runs
    from physstd.data import face_model
    from physstd.models import ModelConfig
    from physstd.train.config import TrainConfig
    from physstd.train.loop import write_run_flags

    other_runs = {"despoof": ("auxiliary", "dq_run")}   # method: (the method whose run it needs, its config field)
    base = tmp_path_factory.mktemp("runs")
    model_config = ModelConfig(image_size=32, width=0.125)
    made = {}
    order = sorted(methods.names(), key=lambda name: name in other_runs)
    for name in order:
        method = methods.get(name)
        own = {}
        if name in other_runs:
            needed, field = other_runs[name]
            own[field] = made[needed]
        config = TrainConfig(method=name, method_config=method.config_class(**own), batch_size=2)
        keras.utils.set_random_seed(0)
        trainer = method.trainer(model_config, config, face_model.NUM_LANDMARKS, tf.distribute.get_strategy())
        run_dir = str(base / name)
        os.makedirs(run_dir)
        write_run_flags(run_dir, config, model_config, face_model.NUM_LANDMARKS,
                        "mm" if "sensor_depth" in method.input_keys else None)
        tf.train.CheckpointManager(tf.train.Checkpoint(**trainer.checkpoint_objects()),
                                   os.path.join(run_dir, runs.CHECKPOINT_DIR), max_to_keep=2).save(1)
        made[name] = run_dir
    return made


@pytest.mark.slow
def test_every_method_s_run_loads_scores_and_serves_without_any_training_module(method_runs):
    """Every evaluation-side module imported, and a run of every registered method restored, scored (its score
    parameters fitted on two frames) and served, in a process that never imports physstd.train."""
    script = textwrap.dedent(f"""
        import sys
        import numpy as np
        import tensorflow as tf
        from physstd import export, predict
        from physstd.eval import evaluate, tables, trace_classification, trace_recovery

        images = np.stack([np.full((32, 32, 3), 0.3, np.float32), np.full((32, 32, 3), 0.7, np.float32)])
        depth = np.stack([np.full((32, 32, 1), 0.4, np.float32), np.full((32, 32, 1), 0.6, np.float32)])
        for name, run in sorted({method_runs!r}.items()):
            model = evaluate.ScoringModel(run)
            inputs = model.method.inference_inputs({{"image": images, "sensor_depth": depth}})
            terms = model.statistics(inputs)
            params = model.method.fit_score(np.array([0, 1]), terms)
            serving = export.ServingModule(model.method.load(run), model.method, params, 0.0,
                                           depth_units=model.depth_units)
            given = [images] + ([depth] if "sensor_depth" in model.method.input_keys else [])
            score = serving.serve_float32(*map(tf.constant, given))["score"].numpy()
            expected = np.asarray(model.method.score(terms, params), np.float32)
            assert np.allclose(score, expected, atol=1e-5), (name, score, expected)
            print(name, model.method.name, sorted(terms))
        print(sorted(m for m in sys.modules if m.startswith("physstd.train")))
    """)
    run = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=300,
                         env=dict(os.environ, PYTHONPATH=ROOT, TF_CPP_MIN_LOG_LEVEL="3"))
    assert run.returncode == 0, run.stderr[-3000:]
    lines = run.stdout.strip().splitlines()
    from physstd import methods

    assert lines == [f"{name} {name} {sorted(methods.get(name).score_terms)}" for name in sorted(method_runs)] + ["[]"]
    assert sorted(method_runs) == sorted(methods.names())
