"""What a method gives the shared harness (training loop, evaluation, calibration, export, predict).

A method is one folder physstd/methods/<name>/ whose __init__.py defines `METHOD`, an instance of a `Method`
subclass, plus one line in physstd.methods.MODULES. The folder holds the whole method: its networks, losses,
trainer (a subclass of physstd.train.trainer.Trainer) and its own config (a `MethodConfig`). Its __init__.py
stays free of TensorFlow (the flag definitions read it): the members below import the folder's TensorFlow modules
when called. The shared code only ever calls the members below; it never tests a method's name.

display_name: the method's name in tables (run_test.py's default row label is "<display_name> (ours)"); the
    name of its row in the paper tables (physstd.eval.published) where it has one.
input_keys: the inputs its networks take, among physstd.config.INPUT_CHANNELS: ("image",) (the default: the RGB
    face crop) or ("image", "sensor_depth") (plus the sensor depth registered to it, (batch, N, N, 1) float32
    normalised to [0, 1] by physstd.ops.depth). The pipeline yields sensor_depth only to a method that takes it,
    and refuses a set without it. Never a label (depth M0, face_depth, P0): tests/test_sensor_depth_inputs.py checks
    that no method's network ever sees one. `inference_inputs(batch)` is what the harness hands the method's
    Inference and trainer.predict: the image tensor for an image-only method, the dict {key: tensor} of its
    input_keys otherwise ("inputs" below).

Training (physstd.train.loop, physstd.train.flags):
    config_class: the method's own config, a `MethodConfig` dataclass (the base: none). Each field is a run_train.py
        flag of the same name (help, choices and ranges in the class's HELP, CHOICES, RANGES); the run's values
        are TrainConfig.method_config, written into flags.json with the shared TrainConfig fields.
    claimed_flags: the flags of the shared records (TrainConfig, ModelConfig) that only this method reads (PhySTD's
        trace form, the discriminators' width...).
    own_flags: config_class's fields and claimed_flags. A flag that no method owns is shared by every method; one
        that some method owns is refused with any other --method when it is given
        (physstd.train.flags.check_method_flags).
    train_defaults: {TrainConfig field: value} the method uses where the paper's PhySTD default does not fit
        (learning rate, batch size...); a flag given on the command line or in a flagfile still wins.
    check_config(config, model_config): raises one ValueError naming the flag when the method cannot train with
        these configs (e.g. De-Spoof without --dq_run); physstd.train.loop.train calls it first, before any data
        loads (reading the flags does not, so that flagfiles parse without the runs they name). The default accepts
        everything.
    trainer(model_config, config, num_landmarks, strategy)
        the method's trainer (config: the TrainConfig; config.method_config is this method's config): a tf.Module
        with `.step` (int64 variable), `.train_step(batch)` -> {name: scalar loss}, `.learning_rate()`,
        `.variables_finite()`, `.visuals(batch)` -> {name: image tensor}, `.predict(inputs)` -> what the method's
        inference network returns, `.checkpoint_objects()` -> {key: trackable}.
    prediction_terms(prediction)
        the per-frame score terms {term: float64 (F,) numpy} of one `trainer.predict(inputs)` result (dev AUCs).
    image_grid(visuals)
        (grid (1, H, W, 3) float32 in [0, 1], description) of the numpy `trainer.visuals(batch)`, or None for
        a method without an image summary.

Evaluation and export (physstd.eval.evaluate, physstd.export, trace recovery and classification):
    load(run_dir) -> an `Inference` (below): the method's inference network(s) restored from the run's newest
        checkpoint, in float32, built from the run's flags.json record.
    score_terms: names of the per-frame score terms every Inference output holds as (batch,) tensors.
    score(terms, params): the frame score, higher = attack, from the terms and the fitted parameters. Plain
        arithmetic, so that it runs on numpy arrays (evaluation) and on tensors (inside the SavedModel). Linear in
        the terms: a video's score is the score of its frames' mean terms (physstd.eval.evaluate.video_samples).
    fit_score(labels, terms) -> params {name: float}: the parameters chosen on a train/dev set (never test).
    check_params(params, where) -> params: validated parameters read from a file (ValueError naming `where`).
    score_formula: the score in words, written into the calibration file and the export.
    dev_scores(terms, params) -> {name: scores}: the scores whose AUCs training reports on the dev split
        (each higher = attack); the default is the fitted score alone, as "score".
    trace_model(inference) -> a `TraceModel` (below), or None for a method without an additive spoof trace (trace
        recovery then refuses the run).
    classification_traces(outputs) -> (F, N, N, c) tensor the Sec. 4.4 trace classifier learns from, or None.
    figure_outputs: the output keys the method's trace figure needs (empty: the method draws none).
    trace_figure(images, outputs, config) -> (grid, column titles): the method's Fig. 8-style figure, one row per
        face: float32 images (F, N, N, 3) in [0, 1], the numpy export outputs {key: (F, ...)} (figure_outputs among
        them), config = the Inference's config dict (the export info's "model"); grid as physstd.viz.image_grid
        returns it. physstd.predict draws it, and the Fig. 9 layout from the `live` output of any method that has
        one.
    paper_figures(examples, outputs, config) -> [(file name, caption, grid, column titles or None, row titles or
        None)]: the method's other figure layouts of its paper on test-split examples (the demo draws them);
        examples: {key: numpy (F, ...)} of physstd.data.pipeline.eval_dataset with truth (image, label, landmarks,
        spoof_type...), outputs and config as for trace_figure. The default draws none.
"""
import dataclasses
import typing

from physstd import records


class TraceModel(typing.NamedTuple):
    """A method's trace estimate, as trace recovery (physstd.eval.trace_recovery) scores it.

    estimate: images (B, N, N, 3) float32 in [0, 1] (the inputs of input_keys, as Method.inference_inputs gives
        them) -> (additive_trace, region[, effect[, depth_trace]]): additive_trace (B, N, N, 3) is what the method
        says the spoof added to the live face, in image space (live = image - trace outside the region); region
        (B, N, N, 1) in [0, 1] is where it says the spoof replaced the face, or None for a method without one;
        effect (B, N, N, 3), where given, is the image minus the method's reconstruction of the live face (None or
        absent: the method has none besides its trace); depth_trace (B, N, N, 1), for a method with a sensor-depth
        trace, is what it says the spoof added to the live face's depth, in the normalised depth the network reads
        (physstd.ops.depth) (None or absent: none). One call gives them all. Tensors or arrays.
    image_size: N of the images it takes (the data must be prepared at that size).
    bands: (n1, n2) of the Eq. 9 split at which the per-band correlations are taken.
    name: what the recovered trace is, for the report's first sentence.
    input_keys: the method's input_keys (the frames' inputs trace recovery loads for `estimate`).
    """
    estimate: typing.Callable
    image_size: int
    bands: tuple
    name: str = "Recovered trace"
    input_keys: tuple = ("image",)


@dataclasses.dataclass(frozen=True)
class MethodConfig(records.Record):
    """Base of a method's own config: a frozen dataclass whose fields are the method's run_train.py flags.

    HELP: {field: the flag's help}; CHOICES: {field: the allowed values} (an enum flag); RANGES: {field:
    physstd.cli.Range} of the numeric fields, checked here whoever builds the config and by the flags when parsed.
    A method without flags of its own uses this class as it is (no field)."""

    HELP = {}
    CHOICES = {}
    RANGES = {}

    def __post_init__(self):
        records.check_values(self, self.RANGES, self.CHOICES)


class Inference(typing.Protocol):
    """The evaluation-time view of a trained method: a tf.Module (so that an export tracks its variables) with

    image_size: N of the face crops it takes;
    config: a JSON-ready dict of its architecture (written into the export's info file);
    __call__(inputs): float32 images (batch, N, N, 3) in [0, 1] (for a method with more input_keys, the dict of
        Method.inference_inputs) -> {name: tensor}: every entry of the method's score_terms as a (batch,) float32
        tensor, plus the method's maps (depth, traces...). Inference mode.
    """

    image_size: int
    config: dict

    def __call__(self, inputs): ...


def model_inputs(input_keys, batch):
    """What a model with `input_keys` takes from `batch` (a dict holding them): the image alone for ("image",), as
    before a second input existed, else the dict of its input_keys."""
    if tuple(input_keys) == ("image",):
        return batch["image"]
    return {key: batch[key] for key in input_keys}


class Method:
    """Base of every method (module doc). Subclasses set `name`, `display_name`, `score_terms`, `score_formula`
    (and `config_class`, `claimed_flags` where they read flags of their own) and implement the members that raise
    NotImplementedError here."""

    name = ""
    display_name = ""
    config_class = MethodConfig
    claimed_flags = frozenset()
    score_terms = ()
    score_formula = ""
    figure_outputs = ()
    train_defaults = {}
    input_keys = ("image",)
    # run_export.py --int8_float_layers's default: a regular expression over the converted graph's tensor names of
    # the layers that stay float32 in the full-integer int8 file, those whose int8 error cost the method's accuracy
    # on the demo runs (the per-layer comparison of benchmarks/export_formats.py; docs/results.md).
    int8_float_layers = ""

    @property
    def own_flags(self):
        return frozenset(field.name for field in dataclasses.fields(self.config_class)) | self.claimed_flags

    def inference_inputs(self, batch):
        """What the method's Inference and trainer.predict take from `batch` (a dict holding its input_keys)."""
        return model_inputs(self.input_keys, batch)

    # --- training ---------------------------------------------------------------------------------------------
    def check_config(self, config, model_config):
        pass

    def trainer(self, model_config, config, num_landmarks, strategy):
        raise NotImplementedError

    def prediction_terms(self, prediction):
        raise NotImplementedError

    def image_grid(self, visuals):
        return None

    # --- evaluation -------------------------------------------------------------------------------------------
    def load(self, run_dir):
        raise NotImplementedError

    def score(self, terms, params):
        raise NotImplementedError

    def fit_score(self, labels, terms):
        raise NotImplementedError

    def check_params(self, params, where):
        raise NotImplementedError

    def dev_scores(self, terms, params):
        return {"score": self.score(terms, params)}

    def trace_model(self, inference):
        return None

    def classification_traces(self, outputs):
        return None

    def trace_figure(self, images, outputs, config):
        raise NotImplementedError(f"method {self.name!r} names no figure_outputs: it draws no trace figure")

    def paper_figures(self, examples, outputs, config):
        return []

    def __repr__(self):
        return f"<method {self.name}>"


class WeightedScore:
    """Mixin (before Method) for a method whose score is a physstd.eval.scoring.WeightedDifference, `weighted_score`:
    score, fit_score and check_params are that score's."""

    weighted_score = None

    def score(self, terms, params):
        return self.weighted_score.score(terms, params)

    def fit_score(self, labels, terms):
        return self.weighted_score.fit(labels, terms)

    def check_params(self, params, where):
        return self.weighted_score.check(params, where)


class UnfittedScore:
    """Mixin (before Method) for a method whose score has nothing fitted: its calibration parameters are {}."""

    def fit_score(self, labels, terms):
        return {}

    def check_params(self, params, where):
        if params != {}:
            raise ValueError(f"{where}: the {self.display_name} score {self.score_formula} has no parameters ({{}}); "
                             f"found {params!r}")
        return {}
