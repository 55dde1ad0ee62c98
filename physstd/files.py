"""Small files written atomically (temp file in the same folder + os.replace) and read with errors that name
the file. Every JSON/CSV/text file physstd writes goes through here, and every folder built in a temporary place
is swapped in here (swap_in_folder), so a crash never leaves half a file or half a folder. NumPy files are read
here too, one at a time (see load_npz)."""
import csv
import io
import json
import os
import re
import shutil
import threading
import uuid

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


def _temporary_name(directory, name):
    """A fresh hidden name in `directory` for a file or folder that becomes `name`."""
    return os.path.join(directory, f".tmp-{uuid.uuid4().hex}-{name}")


def _write_atomic(path, data, mode):
    """Write `data` (str with mode 'w', bytes with 'wb') to `path` through a temporary file and os.replace.

    The temporary file is created with os.open(..., 0o666), so the file gets the mode the user's umask gives
    a normal file (tempfile.mkstemp would make it 0600 and the rename would keep that)."""
    path = os.fspath(path)
    temporary = _temporary_name(os.path.dirname(os.path.abspath(path)), os.path.basename(path))
    handle = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    try:
        with os.fdopen(handle, mode, **({"newline": ""} if mode == "w" else {})) as stream:
            stream.write(data)
        os.replace(temporary, path)
    except BaseException:
        if os.path.exists(temporary):
            os.remove(temporary)
        raise


def write_text_atomic(path, text):
    """Write `text` to `path` through a temporary file in the same folder and os.replace."""
    _write_atomic(path, text, "w")


def write_bytes_atomic(path, data):
    """Write the bytes `data` to `path` through a temporary file in the same folder and os.replace."""
    _write_atomic(path, data, "wb")


def make_temporary_dir(parent, name):
    """A new hidden folder in `parent` for building what becomes `parent/name`, with the mode the umask gives a
    normal folder (tempfile.mkdtemp would make it 0700, and renaming it into place would keep that)."""
    path = _temporary_name(parent, name)
    os.mkdir(path, 0o777)
    return path


def swap_in_folder(new, final, old=None):
    """Move the finished folder `new` to `final` with os.replace (same file system), replacing a folder there.

    Every folder physstd builds in a temporary place (a prepared or raw video, a protocol, an export) is swapped
    in here, so `final` is at every moment the previous folder whole, the new one whole, or (between the two
    renames) missing, never half written. A previous `final` is first renamed to `old` (default: a hidden name
    next to `final`), and removed once the new folder is in place; if that move fails, it is put back and the
    error raised. Callers that can be killed between the renames name `old` where their startup cleanup finds it
    (an export's staging folder, a writer's .partial/)."""
    final = os.path.abspath(os.fspath(final))
    if os.path.lexists(final):
        old = old or _temporary_name(os.path.dirname(final), os.path.basename(final) + ".old")
        os.replace(final, old)
    else:
        old = None
    try:
        os.replace(new, final)
    except BaseException:
        if old is not None and not os.path.lexists(final):
            os.replace(old, final)
        raise
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def natural_key(name):
    """Sort key of a file or folder name in natural order: digit runs compare as numbers and letters without regard
    to case (frame2.png, Frame10.png, frame10.PNG), the name itself breaking ties so that the order never depends
    on the order a folder lists them in. Frame images (the frame order) and protocol folds sort by it."""
    parts = re.split(r"(\d+)", name)
    return [int(part) if k % 2 else part.lower() for k, part in enumerate(parts)], name


def check_output_dir(path):
    """Refuse (ValueError) an output folder path that exists but is not a folder, before any work is done."""
    path = os.fspath(path)
    if os.path.lexists(path) and not os.path.isdir(path):
        raise ValueError(f"{path}: exists and is not a folder; expected a folder to write into (or a new path)")
    return path


def check_apart(output_dir, input_dir, output_name="--output_dir", input_name="--input_dir"):
    """Refuse (ValueError) an output folder that is the input folder, lies inside it or holds it, symbolic links
    resolved: writing there could replace or delete what is being read."""
    output, source = os.path.realpath(output_dir), os.path.realpath(input_dir)
    if output == source or os.path.commonpath([output, source]) in (output, source):
        how = ("is" if output == source else "lies inside" if os.path.commonpath([output, source]) == source
               else "holds")
        raise ValueError(f"{output_name}={output_dir} {how} {input_name}={input_dir} (resolved: {output}, {source}); "
                         f"the output must be apart from the input it is made from, so that writing it cannot "
                         f"replace or delete what is read")


def write_json_atomic(path, record, sort_keys=False):
    """Write `record` as indented JSON (NaN refused) to `path` atomically."""
    write_text_atomic(path, json.dumps(record, indent=2, allow_nan=False, sort_keys=sort_keys) + "\n")


def read_json(path, what):
    """Parsed JSON of `path`; a missing or malformed file raises ValueError naming it and `what` it holds.

    Every JSON file physstd reads goes through here. Nesting deeper than Python's recursion limit (a hostile
    file of 100,000 brackets) is malformed JSON too, not a RecursionError."""
    path = os.fspath(path)
    try:
        with open(path, encoding="utf-8") as stream:
            return json.load(stream)
    except FileNotFoundError:
        raise ValueError(f"{path}: {what} file not found") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise ValueError(f"{path}: not valid JSON ({error})") from None
    except RecursionError:
        raise ValueError(f"{path}: not a {what} file: JSON nested too deeply to read") from None


def csv_text(rows, columns):
    """CSV text with a header of `columns` and one line per dict in `rows` (missing fields empty)."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=columns, extrasaction="raise", lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({column: row.get(column, "") for column in columns})
    return buffer.getvalue()
