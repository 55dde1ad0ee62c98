"""Small files written atomically (temp file in the same folder + os.replace) and read with errors that name
the file. Every JSON/CSV/text file physstd writes goes through here, so a crash never leaves half a file.
NumPy files are read here too, one at a time (see load_npz)."""
import csv
import io
import json
import os
import tempfile
import threading

import numpy as np

# np.load parses every .npy header with ast.literal_eval. On CPython 3.11 two threads building ASTs at once can
# fail with "SystemError: AST constructor recursion depth mismatch" (python/cpython#106905), and the input
# pipeline loads videos from several tf.data threads: NumPy reads therefore take this lock.
_NUMPY_READ_LOCK = threading.Lock()


def load_npz(path):
    """{name: array} of every array in the .npz at `path` (pickles refused); np.load's OSError / ValueError pass
    through for the caller to name the file."""
    with _NUMPY_READ_LOCK, np.load(path, allow_pickle=False) as data:
        return {key: data[key] for key in data.files}


def load_npy(path):
    """The array in the .npy at `path` (pickles refused), read under the same lock as load_npz."""
    with _NUMPY_READ_LOCK:
        return np.load(path, allow_pickle=False)


def write_text_atomic(path, text):
    """Write `text` to `path` through a temporary file in the same folder and os.replace."""
    path = os.fspath(path)
    handle, temporary = tempfile.mkstemp(dir=os.path.dirname(os.path.abspath(path)), prefix=".tmp-",
                                         suffix=os.path.basename(path))
    try:
        with os.fdopen(handle, "w", newline="") as stream:
            stream.write(text)
        os.replace(temporary, path)
    except BaseException:
        if os.path.exists(temporary):
            os.remove(temporary)
        raise


def write_json_atomic(path, record, sort_keys=False):
    """Write `record` as indented JSON (NaN refused) to `path` atomically."""
    write_text_atomic(path, json.dumps(record, indent=2, allow_nan=False, sort_keys=sort_keys) + "\n")


def read_json(path, what):
    """Parsed JSON of `path`; a missing or malformed file raises ValueError naming it and `what` it holds."""
    path = os.fspath(path)
    try:
        with open(path) as stream:
            return json.load(stream)
    except FileNotFoundError:
        raise ValueError(f"{path}: {what} file not found") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise ValueError(f"{path}: not valid JSON ({error})") from None


def csv_text(rows, columns):
    """CSV text with a header of `columns` and one line per dict in `rows` (missing fields empty)."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=columns, extrasaction="raise", lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({column: row.get(column, "") for column in columns})
    return buffer.getvalue()
