"""Face detection and the 68 dlib landmarks: dlib's HOG detector + the iBUG-68 shape predictor.

The model file ships in the `face-recognition-models` wheel. We locate it with importlib instead of importing
the package, because its __init__ needs pkg_resources (not installed with recent setuptools).
"""
import functools
import importlib.util
import os

import cv2
import numpy as np

SHAPE_PREDICTOR_FILE = "shape_predictor_68_face_landmarks.dat"

# HOG detection runs on a copy whose longer side is at most this many pixels (FAS videos are up to 1080p
# with one large face; detecting at full resolution costs ~10x more and finds the same box). The landmarks
# are then fitted on the full-resolution frame.
DETECT_MAX_SIDE = 640
TRACK_MARGIN = 0.75
TRACK_FACE_SIDE = 120   # pixels; dlib's HOG window is 80


def model_path(filename=SHAPE_PREDICTOR_FILE):
    """Path of a model file shipped in the face-recognition-models wheel."""
    spec = importlib.util.find_spec("face_recognition_models")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError("package face-recognition-models is not installed; "
                                "pip install face-recognition-models (it holds the dlib landmark model)")
    path = os.path.join(list(spec.submodule_search_locations)[0], "models", filename)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"{path}: dlib model file missing from face-recognition-models")
    return path


@functools.lru_cache(maxsize=1)
def dlib_models():
    """The detector and the shape predictor, loaded once per process (the predictor file is ~100 MB)."""
    import dlib   # imported here so that modules using only the geometry need no dlib
    return dlib.get_frontal_face_detector(), dlib.shape_predictor(model_path())


class LandmarkDetector:
    """Callable: RGB uint8 image -> (68, 2) float64 (x, y) landmarks of the largest face, or None.

    Pass the previous frame's landmarks as `previous` to search only a window around them (TRACK_MARGIN
    face sizes on each side, scaled so the face is about TRACK_FACE_SIDE pixels): ~4x cheaper than the
    full-frame search, which still runs when the window holds no face."""

    def __init__(self, detect_max_side=DETECT_MAX_SIDE):
        self.detect_max_side = detect_max_side

    @staticmethod
    def _search(gray, factor, upsamples):
        """Largest HOG face box (left, top, right, bottom) in `gray` searched at `factor` scale, or None."""
        detector, _ = dlib_models()
        height, width = gray.shape
        # dlib's Python detector ignores numpy strides: handed a view (the tracking window of `detect_face`) it
        # reads memory that is not the window's pixels, and what it finds then changes with the process's heap.
        small = np.ascontiguousarray(gray) if factor == 1.0 else cv2.resize(
            gray, (max(1, round(width * factor)), max(1, round(height * factor))), interpolation=cv2.INTER_AREA)
        for upsample in upsamples:
            rects = detector(small, upsample)
            if len(rects):
                rect = max(rects, key=lambda r: r.width() * r.height())
                return tuple(v / factor for v in (rect.left(), rect.top(), rect.right(), rect.bottom()))
        return None

    def detect_face(self, gray, previous=None):
        """Largest face box (left, top, right, bottom) in `gray`'s pixels, or None."""
        height, width = gray.shape
        if previous is not None:
            low, high = np.min(previous, axis=0), np.max(previous, axis=0)
            extent = float(np.max(high - low))
            x0, y0 = (int(max(0, v - TRACK_MARGIN * extent)) for v in low)
            x1 = int(min(width, high[0] + TRACK_MARGIN * extent)) + 1
            y1 = int(min(height, high[1] + TRACK_MARGIN * extent)) + 1
            if x1 - x0 > 1 and y1 - y0 > 1 and extent > 0:
                box = self._search(gray[y0:y1, x0:x1], min(1.0, TRACK_FACE_SIDE / extent), (0,))
                if box is not None:
                    return box[0] + x0, box[1] + y0, box[2] + x0, box[3] + y0
        # Upsample once only when nothing is found: small faces are rare in FAS data and it costs ~4x.
        return self._search(gray, min(1.0, self.detect_max_side / max(height, width)), (0, 1))

    def __call__(self, rgb, previous=None):
        import dlib
        gray = cv2.cvtColor(np.ascontiguousarray(rgb), cv2.COLOR_RGB2GRAY)
        box = self.detect_face(gray, previous)
        if box is None:
            return None
        _, predictor = dlib_models()
        left, top, right, bottom = (int(round(v)) for v in box)
        shape = predictor(gray, dlib.rectangle(left, top, right, bottom))
        return np.array([(p.x, p.y) for p in shape.parts()], dtype=np.float64)
