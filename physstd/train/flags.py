"""absl flags of run_train.py (defined only when this module is imported, i.e. by the entry point).

Every shared TrainConfig field is a flag of the same name with the paper's default, its value checked against
physstd.train.config.RANGES when the flags are parsed; every field of a method's own config (Method.config_class,
physstd.methods.base.MethodConfig) is a flag too, with the help, choices and ranges its class gives; --image_size,
--width, --discriminator_width and --trace_form (or --single_trace) make the ModelConfig. Experiments are flagfiles
in flags/ (`--flagfile=flags/oulu_p1.flags`).

A flag that some method owns (Method.own_flags: its config's fields and the shared flags it claims) belongs to
those methods; every other flag is shared. Given with another --method (on the command line or in a flagfile), it
is refused, since that method would silently ignore it.
"""
import dataclasses

from absl import flags

from physstd import cli, methods
from physstd.config import LOWPASS_MODES
from physstd.models.config import TRACE_FORMS, UPSAMPLE_MODES, ModelConfig
from physstd.train.config import RANGES, STRATEGIES, TrainConfig

_HELP = {
    "method": "method to train (physstd.methods): {}; run_test/run_export/run_predict read it from the run",
    "data_root": "prepared dataset root (meta.json, index.csv, videos); the synthetic set with --synthetic",
    "split_dir": "folder holding <protocol>/[fold_<k>/]{train,dev,test}.txt; default <data_root>/protocols",
    "protocol": "protocol folder name under --split_dir (e.g. p1)",
    "fold": "fold of a multi-fold protocol ('1'..'6', a SiW-M type name, ...); empty for none",
    "synthetic": "generate the synthetic set into --data_root when it holds no prepared dataset",
    "synthetic_identities": "identities of the generated synthetic set (0: physstd.data.synthetic's default)",
    "run_dir": "run directory: flags.json, checkpoints/, tensorboard/; an existing one is resumed",
    "seed": "seed of the data stream, the initial weights and the harder-sample weights",
    "num_steps": "total training iterations (Alg. 1 iterations; the paper: 150k)",
    "batch_size": "global batch, half live and half spoof (paper: 8)",
    "learning_rate": "Adam learning rate of the generator (paper: 5e-5)",
    "lr_decay_every": "multiply the learning rate by --lr_decay_factor every this many steps (paper: 45k)",
    "lr_decay_factor": "staircase decay factor (paper: 0.1)",
    "discriminator_lr_ratio": "discriminator learning rate / generator learning rate (paper: 0.5)",
    "adam_beta1": "Adam beta1 (paper: unspecified; STDN code: TensorFlow default 0.9)",
    "adam_beta2": "Adam beta2",
    "brightness_jitter": "training images get an additive brightness delta uniform in [-this, this] (the ECCV20 "
                         "STDN loader's 0.25; 0 turns it off)",
    "frames_per_video": "train on this many frames of each video, spread evenly over it (the multi-modal "
                        "disentanglement paper: 5); 0: every frame",
    "checkpoint_every": "save a checkpoint every this many steps (a killed run loses at most this many)",
    "keep_checkpoints": "checkpoints kept (>= 2)",
    "summary_every": "TensorBoard scalars every this many steps",
    "image_summary_every": "TensorBoard image grid every this many steps (0: never)",
    "log_every": "console progress line every this many steps",
    "eval_every": "dev-split AUC every this many steps (0: only at the end)",
    "eval_batch_size": "batch size of the dev evaluation",
    "eval_max_videos": "evaluate on at most this many dev videos, evenly chosen per class (0: all)",
    "mixed_precision": "mixed_float16 layers with loss scaling (traces, losses, warping stay float32)",
    "jit_compile": "compile the train step with XLA",
    "strategy": "auto (MirroredStrategy when several GPUs are visible), default, mirrored, multi_worker",
}
_ENUMS = {"strategy": STRATEGIES}
# The ModelConfig flags' ranges (the multiple of 8 of --image_size is checked by ModelConfig).
MODEL_RANGES = {"image_size": cli.at_least(16), "width": cli.POSITIVE, "discriminator_width": cli.NON_NEGATIVE}
# The flags that make the ModelConfig (define_flags defines them after the TrainConfig fields).
MODEL_FLAGS = ("image_size", "width", "discriminator_width", "trace_form", "lowpass", "upsample", "single_trace")


def _define_record_flags(record_class, help_texts, choices, flag_values, defined=()):
    """One flag per field of a record class (a dataclass), of the field's type and default; the fields named in
    `defined` are skipped."""
    kw = {"flag_values": flag_values}
    for field in dataclasses.fields(record_class):
        name, default = field.name, field.default
        if name in defined:
            continue
        if name in choices:
            flags.DEFINE_enum(name, default, choices[name], help_texts[name], **kw)
        elif field.type is bool or isinstance(default, bool):
            flags.DEFINE_bool(name, default, help_texts[name], **kw)
        elif isinstance(default, int):
            flags.DEFINE_integer(name, default, help_texts[name], **kw)
        elif isinstance(default, float):
            flags.DEFINE_float(name, default, help_texts[name], **kw)
        else:
            flags.DEFINE_string(name, default, help_texts[name], **kw)


def _method_configs():
    """The methods' own config classes, each once (in the order of methods.names())."""
    classes = []
    for name in methods.names():
        config_class = methods.get(name).config_class
        if config_class not in classes:
            classes.append(config_class)
    return classes


def _shared_fields():
    return [field for field in dataclasses.fields(TrainConfig) if field.name != "method_config"]


def define_flags(flag_values=flags.FLAGS):
    """Define one flag per shared TrainConfig field, per field of each method's config, plus the ModelConfig flags
    --image_size, --width, --discriminator_width, --trace_form, --lowpass, --upsample, --single_trace (into
    flag_values)."""
    kw = {"flag_values": flag_values}
    shared_help = dict(_HELP, method=_HELP["method"].format(", ".join(methods.names())))
    _define_record_flags(TrainConfig, shared_help, _ENUMS, flag_values, defined=("method_config",))
    ranges, defined = dict(RANGES), {field.name for field in _shared_fields()}
    for config_class in _method_configs():   # a field two methods' configs share is one flag
        _define_record_flags(config_class, config_class.HELP, config_class.CHOICES, flag_values, defined)
        ranges.update(config_class.RANGES)
        defined |= {field.name for field in dataclasses.fields(config_class)}
    model = ModelConfig()
    flags.DEFINE_integer("image_size", model.image_size, "face crop size N (paper: 256)", **kw)
    flags.DEFINE_float("width", model.width, "channel multiplier of every network (1 = the paper's widths)", **kw)
    flags.DEFINE_float("discriminator_width", 0.0, "channel multiplier of the four discriminators; 0 = --width",
                       **kw)
    flags.DEFINE_enum("trace_form", model.trace_form, TRACE_FORMS,
                      "trace model: physstd (the paper), single ('w/ single trace' of Tab. 3), "
                      "multiplicative (STDN+ paper, Eq. 27-28), stdn (ECCV20 STDN), "
                      "physstd_gain (physstd plus a global per-channel gain [S]1 I, the released code's s)", **kw)
    flags.DEFINE_enum("lowpass", model.lowpass, LOWPASS_MODES,
                      "Eq. 9's low-pass [x]n: box (average the pixels each n x n cell covers, then bilinear up) or "
                      "point (bilinear down without antialiasing: samples the image; the former reading)", **kw)
    flags.DEFINE_enum("upsample", model.upsample, UPSAMPLE_MODES,
                      "trace decoder upsampling: transpose (stride-2 transposed convs, the paper) or resize "
                      "(nearest x2 then a 3x3 conv)", **kw)
    flags.DEFINE_bool("single_trace", False, "Tab. 3 'w/ single trace': the same as --trace_form=single", **kw)
    for name, owners in flag_owners().items():
        flag_values[name].help += f" [{' and '.join(owners)} only]"
    cli.register_ranges({**ranges, **MODEL_RANGES}, flag_values)


def flag_names():
    """Every flag define_flags defines, in its order: the shared TrainConfig fields, the methods' own, the model's."""
    names = [field.name for field in _shared_fields()]
    for config_class in _method_configs():
        names += [field.name for field in dataclasses.fields(config_class) if field.name not in names]
    return names + list(MODEL_FLAGS)


def flag_owners():
    """{flag: the methods that read it (sorted)} of the flags some method owns (Method.own_flags); the rest are
    shared."""
    owners = {}
    for method in methods.names():
        for name in methods.get(method).own_flags:
            owners.setdefault(name, []).append(method)
    return {name: owners[name] for name in flag_names() if name in owners}


def help_flags(method=None):
    """The flags `run_train.py --method=<method> --help` lists: the shared ones and that method's (every flag for
    None)."""
    owners = flag_owners()
    return [name for name in flag_names() if method is None or name not in owners or method in owners[name]]


def method_in_argv(argv):
    """The method that a command line (flagfiles read) names with --method, or None when it names no known method
    or cannot be read (the real parse reports that). For --help, which absl answers while it parses."""
    values = flags.FlagValues()
    flags.DEFINE_string("method", None, "", flag_values=values)
    try:
        values(list(argv), known_only=True)
    except flags.Error:
        return None
    return values.method if values.method in methods.names() else None


def check_method_flags(values):
    """Refuse (one ValueError) the flags given on the command line or in a flagfile that belong to methods other
    than --method: that method would ignore them."""
    method = values.method
    foreign = [(name, owners) for name, owners in flag_owners().items()
               if values[name].present and method not in owners]
    if foreign:
        given = "; ".join(f"--{name} belongs to method{'s' if len(owners) > 1 else ''} {' and '.join(owners)}"
                          for name, owners in foreign)
        raise ValueError(f"{given}; --method={method} does not read {'it' if len(foreign) == 1 else 'them'} "
                         f"(run_train.py --method={method} --help lists its flags)")


def configs_from_flags(values=None):
    """(TrainConfig, ModelConfig) from parsed flags; the method's train_defaults replace the defaults of the shared
    flags that were not given (on the command line or in a flagfile), its config's fields not given keep its
    config class's defaults. A ValueError for a flag of another method."""
    values = values or flags.FLAGS
    method = methods.get(values.method)
    check_method_flags(values)
    chosen = {field.name: getattr(values, field.name) for field in _shared_fields()}
    chosen.update({name: value for name, value in method.train_defaults.items() if not values[name].present})
    own = {field.name: getattr(values, field.name) for field in dataclasses.fields(method.config_class)
           if values[field.name].present}
    train = TrainConfig(**chosen, method_config=method.config_class(**own))
    trace_form = values.trace_form
    if values.single_trace:
        if trace_form not in ("physstd", "single"):
            raise ValueError(f"--single_trace contradicts --trace_form={trace_form}")
        trace_form = "single"
    model = ModelConfig(image_size=values.image_size, width=values.width, trace_form=trace_form,
                        discriminator_width=values.discriminator_width or None, lowpass=values.lowpass,
                        upsample=values.upsample)
    return train, model
