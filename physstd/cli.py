"""What every command-line entry point shares: a user's mistake ends the run with one `error: ...` line and exit
status 2, without a traceback; a traceback stays for real bugs.

    from physstd import cli
    ...
    if __name__ == "__main__":
        cli.run(main)          # instead of absl's app.run(main)

User errors are the ValueErrors the package raises at its boundaries (each names the file or flag and what was
expected: PreparedFormatError, InputError, a bad flag value...), OSErrors (a missing file, a folder given where
a file belongs, a full disk: the message names the path), absl's flag parsing errors and app.UsageError,
and a data error raised inside a tf.data worker thread, which reaches the caller as a tf.errors.OpError carrying
the PreparedFormatError as text: the input pipeline adds its reader of those (physstd.data.pipeline.data_error)
to THREAD_ERROR_READERS when it is imported, which it is before any tf.data thread can fail.

Numeric flags: each tool gives its table {flag: Range} to register_ranges, which checks the values (finite, within
the range) when the flags are parsed; a value outside is one error line naming the flag and the range.
"""
import math
import os
import sys
import typing

from absl import app
from absl import flags as absl_flags

EXIT_USER_ERROR = 2

# TensorFlow's C++ warnings include the Python traceback of every failed numpy_function in a tf.data thread, which
# buries the one error line; entry points import this module before TensorFlow, so this takes effect. A user who
# wants them sets TF_CPP_MIN_LOG_LEVEL=0.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

# Functions tf.errors.OpError -> the user error it carries as text, or None (module doc).
THREAD_ERROR_READERS = []


def report(error):
    """Print the one-line message of a user error to stderr; returns EXIT_USER_ERROR."""
    message = " ".join(str(error).split("\n")).strip() or type(error).__name__
    print(f"error: {message}", file=sys.stderr, flush=True)
    return EXIT_USER_ERROR


def user_error(error):
    """`error` as the user error to report, or None when it is a bug (to be raised with its traceback)."""
    if isinstance(error, (ValueError, OSError, app.UsageError, absl_flags.Error)):
        return error
    tensorflow = sys.modules.get("tensorflow")
    if tensorflow is not None and isinstance(error, tensorflow.errors.OpError):
        return next(filter(None, (read(error) for read in THREAD_ERROR_READERS)), None)
    return None


def guarded(main, extra_errors=()):
    """`main` with its user errors (and `extra_errors`, e.g. NonFiniteLossError) turned into report()."""
    def wrapped(argv):
        message = None
        try:
            return main(argv)
        except Exception as error:  # noqa: BLE001 - sorted into user errors and bugs right here
            found = error if isinstance(error, tuple(extra_errors)) else user_error(error)
            if found is None:
                raise
            message = str(found)
        # Reported outside the except block: the exception, its traceback and the frames it holds (a tf.data
        # iterator among them) are released first, so that the pipeline's threads stop before the process exits.
        return report(message)
    return wrapped


def parse_flags(argv):
    """absl's flag parsing with a bad flag reported as one error line (exit status 2) instead of 'FATAL ...'."""
    try:
        return absl_flags.FLAGS(argv)
    except absl_flags.Error as error:
        report(f"{error} (--help lists the flags)")
        sys.exit(EXIT_USER_ERROR)


class Range(typing.NamedTuple):
    """The values a numeric flag takes: finite, within [low, high] (an end of None is unbounded; an open end is
    excluded). describe() gives it as an error message prints it, e.g. "in (0, 1)" or "finite and > 0"."""

    low: float = None
    high: float = None
    low_open: bool = False
    high_open: bool = False

    def __contains__(self, value):
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            return False
        if self.low is not None and (value < self.low or (self.low_open and value == self.low)):
            return False
        return self.high is None or (value < self.high or (not self.high_open and value == self.high))

    def describe(self, integer=False):
        """The range as an error message prints it: ">= 1" (an integer flag), "finite and > 0", "in [0, 1)"."""
        def number(value):
            return str(value) if isinstance(value, int) else f"{value:g}"

        if self.high is None:
            bound = "any value" if self.low is None else f"{'>' if self.low_open else '>='} {number(self.low)}"
            return bound if integer else f"finite and {bound}"
        low = "-inf" if self.low is None else number(self.low)
        return (f"in {'(' if self.low_open or self.low is None else '['}{low}, {number(self.high)}"
                f"{')' if self.high_open else ']'}")

    def __str__(self):
        return self.describe()


def at_least(low):
    """[low, inf): e.g. at_least(1) for a step count, an interval or a batch size."""
    return Range(low)


POSITIVE = Range(0, low_open=True)
NON_NEGATIVE = Range(0)


def check_range(name, value, allowed):
    """`value` when it lies in the Range `allowed`, else a ValueError naming --name, the value and the range."""
    if value not in allowed:
        raise ValueError(f"--{name}={value!r}: must be {allowed.describe(isinstance(value, int))}")
    return value


def register_ranges(ranges, flag_values=absl_flags.FLAGS):
    """Validate the numeric flags of one tool when its flags are parsed: `ranges` is {flag name: Range}, the one
    table of that tool's numeric flags. A value outside (NaN and inf included) is an absl flag error, which
    parse_flags reports as one line naming the flag and its range (exit status 2). A flag left at None (unset
    optional flag) passes."""
    for name, allowed in ranges.items():
        integer = isinstance(flag_values[name].parser, absl_flags.IntegerParser)
        absl_flags.register_validator(name, lambda value, allowed=allowed: value is None or value in allowed,
                                      message=f"must be {allowed.describe(integer)}", flag_values=flag_values)


def run(main, extra_errors=()):
    """absl app.run(main) with the user-error handling of this module."""
    app.run(guarded(main, extra_errors), flags_parser=parse_flags)
