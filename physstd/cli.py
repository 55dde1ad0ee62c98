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
the PreparedFormatError as text (physstd.data.pipeline.data_error recovers it).
"""
import os
import sys

from absl import app
from absl import flags as absl_flags

EXIT_USER_ERROR = 2

# TensorFlow's C++ warnings include the Python traceback of every failed numpy_function in a tf.data thread, which
# buries the one error line; entry points import this module before TensorFlow, so this takes effect. A user who
# wants them sets TF_CPP_MIN_LOG_LEVEL=0.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


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
        from physstd.data import pipeline
        return pipeline.data_error(error)
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


def run(main, extra_errors=()):
    """absl app.run(main) with the user-error handling of this module."""
    app.run(guarded(main, extra_errors), flags_parser=parse_flags)
