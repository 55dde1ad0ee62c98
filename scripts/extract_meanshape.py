"""One-off: extract the 68x3 mean face from the insightface 2.1 wheel into physstd/data/meanface_68.csv.

Run once by a maintainer (not at install or run time):

    pip download --no-deps insightface==2.1 -d /tmp/w
    python scripts/extract_meanshape.py /tmp/w/insightface-2.1-py3-none-any.whl

The wheel is MIT licensed. The array inside is a pickle; it is only unpickled after its sha256 matches the
file we audited, so this script never unpickles anything a user hands it.
"""
import hashlib
import io
import pickle
import sys
import zipfile

import numpy as np

MEMBER = "insightface/data/objects/meanshape_68.pkl"
SHA256 = "39ffecf84ba73f0d0d7e49380833ba88713c9fcdec51df4f7ac45a48b8f4cc51"
OUTPUT = "physstd/data/meanface_68.csv"


def main(wheel_path):
    with zipfile.ZipFile(wheel_path) as wheel:
        payload = wheel.read(MEMBER)
    digest = hashlib.sha256(payload).hexdigest()
    if digest != SHA256:
        raise SystemExit(f"{wheel_path}:{MEMBER}: sha256 {digest}, expected {SHA256}")
    shape = np.asarray(pickle.load(io.BytesIO(payload)), dtype=np.float64)
    if shape.shape != (68, 3):
        raise SystemExit(f"{MEMBER}: shape {shape.shape}, expected (68, 3)")
    header = (
        "# 68-point mean 3D face (x right, y down, z toward the camera), dlib/iBUG 68-landmark order.\n"
        f"# Source: insightface 2.1 wheel (PyPI, MIT licence), {MEMBER}\n"
        f"# sha256 of that file: {SHA256}\n"
        "# Extracted once by scripts/extract_meanshape.py; rounded to 6 decimals.\n"
        "x,y,z\n")
    rows = "".join("%.6f,%.6f,%.6f\n" % tuple(row) for row in shape)
    with open(OUTPUT, "w") as handle:
        handle.write(header + rows)


if __name__ == "__main__":
    main(sys.argv[1])
