"""Small JSON files (calibrations, result tables): atomic writes and reads that name the file on error."""
import json
import os
import tempfile


def write_json_atomic(path, record):
    """Write ``record`` as indented JSON to ``path`` through a temporary file in the same folder and os.replace."""
    path = os.fspath(path)
    directory = os.path.dirname(os.path.abspath(path))
    handle, temporary = tempfile.mkstemp(dir=directory, prefix=".tmp-", suffix=".json")
    try:
        with os.fdopen(handle, "w") as stream:
            json.dump(record, stream, indent=2, allow_nan=False)
            stream.write("\n")
        os.replace(temporary, path)
    except BaseException:
        if os.path.exists(temporary):
            os.remove(temporary)
        raise


def read_json(path, what):
    """Parsed JSON of ``path``; a missing or malformed file raises ValueError naming it and ``what`` it holds."""
    path = os.fspath(path)
    try:
        with open(path) as stream:
            return json.load(stream)
    except FileNotFoundError:
        raise ValueError(f"{path}: {what} file not found") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise ValueError(f"{path}: not valid JSON ({error})") from None
