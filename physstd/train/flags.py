"""absl flags of run_train.py (defined only when this module is imported, i.e. by the entry point).

Every TrainConfig field is a flag of the same name with the paper's default, its value checked against
physstd.train.config.RANGES when the flags are parsed; --image_size, --width,
--discriminator_width and --trace_form (or --single_trace) make the ModelConfig. Experiments are flagfiles in flags/ (`--flagfile=flags/oulu_p1.flags`).

A flag that some method names in its `own_flags` (physstd.methods.base) belongs to those methods; every other flag
is shared. Given with another --method (on the command line or in a flagfile), it is refused, since that method
would silently ignore it.
"""
import dataclasses

from absl import flags

from physstd import cli
from physstd.config import LOWPASS_MODES
from physstd.models.config import TRACE_FORMS, UPSAMPLE_MODES, ModelConfig
from physstd.train.config import RANGES, STEP_CHOICES, STRATEGIES, SYNTHESIS_TARGETS, TrainConfig

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
    "a1": "alpha1, weight of L_depth (Eq. 23)",
    "a2": "alpha2, weight of L_G (Eq. 23)",
    "a3": "alpha3, weight of L_P (Eq. 23)",
    "a4": "alpha4, weight of L_R (Eq. 23)",
    "a5": "alpha5, weight of L_S (Eq. 24)",
    "a6": "alpha6, weight of L_H (Eq. 24)",
    "beta": "trace threshold of the inpainting mask loss (Eq. 19)",
    "steps": "training steps of Alg. 1 that run: 1 (depth only), 12 (+GAN), 123 (+synthesis; the full method)",
    "generator_updates": "generator updates per iteration: 1 (Alg. 1 line 13, the released code: one update on "
                         "the step-1/2 and step-3 losses together) or 2 (after step 1+2, then after step 3)",
    "synthesis_target": "L_S (Eq. 21) compares the overall effect of the traces in image space (effect) or each "
                        "raw component B, C, T, P, I_P (components)",
    "match_real_band": "live faces reach D1/D2 through the same Eq. 9 lowpass as I_low/I_mid (--nomatch_real_band: "
                       "the full-band live face, the former reading)",
    "live_trace_weight": "0: L_R (Eq. 20) on live and spoof traces with --a4 (the paper); > 0: --a4 on the spoof "
                         "half and this weight on the live half's L_R (the authors' released code: 10)",
    "hard_synthesis_weight": "weight of L_S (Eq. 21) on the transplanted (hard) half of the step-3 batch against "
                             "its live half: 1 (the paper: one loss over both), 0 (live half only)",
    "band_limit_inpainted": "the inpainted content P * I_P reaches D1/D2 through Eq. 9's [.]n1 / [.]n2 like the "
                            "band-limited live reals (the paper: full band)",
    "brightness_jitter": "training images get an additive brightness delta uniform in [-this, this] (the ECCV20 "
                         "STDN loader's 0.25; 0 turns it off)",
    "checkpoint_every": "save a checkpoint every this many steps (a killed run loses at most this many)",
    "keep_checkpoints": "checkpoints kept (>= 2)",
    "summary_every": "TensorBoard scalars every this many steps",
    "image_summary_every": "TensorBoard image grid every this many steps (0: never)",
    "log_every": "console progress line every this many steps",
    "eval_every": "dev-split AUC every this many steps (0: only at the end)",
    "eval_batch_size": "batch size of the dev evaluation",
    "eval_max_videos": "evaluate on at most this many dev videos, evenly chosen per class (0: all)",
    "dq_run": "De-Spoof (--method=despoof): run directory of the trained Auxiliary run (--method=auxiliary, same "
              "--image_size and --width) whose network is the DQ-Net (seeds/003 Sec. 3.3, 4.1); required there",
    "train_dq": "De-Spoof: train the DQ-Net jointly on L1 to M0 (the authors' released code) instead of keeping it "
                "frozen (the paper, Sec. 4.1)",
    "mixed_precision": "mixed_float16 layers with loss scaling (traces, losses, warping stay float32)",
    "jit_compile": "compile the train step with XLA",
    "strategy": "auto (MirroredStrategy when several GPUs are visible), default, mirrored, multi_worker",
}
_ENUMS = {"steps": STEP_CHOICES, "strategy": STRATEGIES, "synthesis_target": SYNTHESIS_TARGETS}
# The ModelConfig flags' ranges (the multiple of 8 of --image_size is checked by ModelConfig).
MODEL_RANGES = {"image_size": cli.at_least(16), "width": cli.POSITIVE, "discriminator_width": cli.NON_NEGATIVE}
# The flags that make the ModelConfig (define_flags defines them after the TrainConfig fields).
MODEL_FLAGS = ("image_size", "width", "discriminator_width", "trace_form", "lowpass", "upsample", "single_trace")


def define_flags(flag_values=flags.FLAGS):
    """Define one flag per TrainConfig field plus the ModelConfig flags --image_size, --width,
    --discriminator_width, --trace_form (into flag_values)."""
    kw = {"flag_values": flag_values}
    for field in dataclasses.fields(TrainConfig):
        name, default, help_text = field.name, field.default, _HELP[field.name]
        if name == "method":
            from physstd import methods

            help_text = help_text.format(", ".join(methods.names()))
        if name in _ENUMS:
            flags.DEFINE_enum(name, default, _ENUMS[name], help_text, **kw)
        elif field.type is bool or isinstance(default, bool):
            flags.DEFINE_bool(name, default, help_text, **kw)
        elif isinstance(default, int):
            flags.DEFINE_integer(name, default, help_text, **kw)
        elif isinstance(default, float):
            flags.DEFINE_float(name, default, help_text, **kw)
        else:
            flags.DEFINE_string(name, default, help_text, **kw)
    model = ModelConfig()
    flags.DEFINE_integer("image_size", model.image_size, "face crop size N (paper: 256)", **kw)
    flags.DEFINE_float("width", model.width, "channel multiplier of every network (1 = the paper's widths)", **kw)
    flags.DEFINE_float("discriminator_width", 0.0, "channel multiplier of the four discriminators; 0 = --width",
                       **kw)
    flags.DEFINE_enum("trace_form", model.trace_form, TRACE_FORMS,
                      "trace model: physstd (the paper), single ('w/ single trace' of Tab. 3), "
                      "multiplicative (seeds/000 Eq. 27-28), stdn (ECCV20 STDN), physstd_gain (physstd plus a global "
                      "per-channel gain [S]1 I, the released code's s)", **kw)
    flags.DEFINE_enum("lowpass", model.lowpass, LOWPASS_MODES,
                      "Eq. 9's low-pass [x]n: box (average the pixels each n x n cell covers, then bilinear up) or "
                      "point (bilinear down without antialiasing: samples the image; the former reading)", **kw)
    flags.DEFINE_enum("upsample", model.upsample, UPSAMPLE_MODES,
                      "trace decoder upsampling: transpose (stride-2 transposed convs, the paper) or resize "
                      "(nearest x2 then a 3x3 conv)", **kw)
    flags.DEFINE_bool("single_trace", False, "Tab. 3 'w/ single trace': the same as --trace_form=single", **kw)
    for name, owners in flag_owners().items():
        flag_values[name].help += f" [{' and '.join(owners)} only]"
    cli.register_ranges({**RANGES, **MODEL_RANGES}, flag_values)


def flag_names():
    """Every flag define_flags defines, in its order."""
    return [field.name for field in dataclasses.fields(TrainConfig)] + list(MODEL_FLAGS)


def flag_owners():
    """{flag: the methods that read it (sorted)} of the flags some method names in its own_flags; the rest are
    shared."""
    from physstd import methods

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
    from physstd import methods

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
    """(TrainConfig, ModelConfig) from parsed flags; the method's train_defaults replace the defaults of the flags
    that were not given (on the command line or in a flagfile). A ValueError for a flag of another method."""
    from physstd import methods

    values = values or flags.FLAGS
    defaults = methods.get(values.method).train_defaults
    check_method_flags(values)
    chosen = {f.name: getattr(values, f.name) for f in dataclasses.fields(TrainConfig)}
    chosen.update({name: value for name, value in defaults.items() if not values[name].present})
    train = TrainConfig(**chosen)
    trace_form = values.trace_form
    if values.single_trace:
        if trace_form not in ("physstd", "single"):
            raise ValueError(f"--single_trace contradicts --trace_form={trace_form}")
        trace_form = "single"
    model = ModelConfig(image_size=values.image_size, width=values.width, trace_form=trace_form,
                        discriminator_width=values.discriminator_width or None, lowpass=values.lowpass,
                        upsample=values.upsample)
    return train, model
