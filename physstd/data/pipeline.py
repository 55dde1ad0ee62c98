"""tf.data input pipelines over a prepared dataset (PhySTD paper, Sec. 4.1, Alg. 1).

`train_dataset` yields {"live": sample, "spoof": sample}: one live and one spoof frame per pair, so every
batch is half live, half spoof (the PhySTD paper's batch 8 = 4 pairs). Spoof types are drawn in turn from a fresh
random permutation of the types present, so every run of T consecutive pairs (T types) holds each type
once ("spoof samples are equally sampled from different spoof types"); the video within a type, the live
video and the frame are uniform. Each sample gets a horizontal flip (with the landmark re-ordering
`face_model.flip_landmarks`, so index i keeps its meaning; depth M0, face_depth and P0 mirrored alike) and an
additive brightness jitter, after the ECCV20 STDN data loader (flip with probability 0.5, brightness delta
uniform in [-0.25, 0.25]); the image is clipped to [0, 1]. The per-pixel barycentric map of the (flipped)
landmarks (`ops.triangle_barycentrics`) is built here, on the CPU, so that the 3D warping in the train step
is an in-graph gather.

Every random choice is a stateless function of (seed, element index): the stream is identical across runs
and independent of the number of parallel calls. Decoded frames, per-video arrays and barycentric maps are
kept in an LRU cache bounded by `cache_bytes` (small sets end up fully in memory).

`eval_dataset` walks every kept frame of every video once, in index order, with video_id and frame for
video-level scores.

Inputs beyond the image. Both datasets take `input_keys` (a method's Method.input_keys, among INPUT_KEYS); with
"sensor_depth" each sample also holds `sensor_depth` (N, N, 1): the frame's raw depth crop
(`<video>/sensor_depth/NNNNNN.png`, in the set's meta.json "depth_units") flipped with the image, never
jittered, and normalised to [0, 1] by physstd.ops.depth.normalise_sensor_depth, the function the export uses. A
set whose meta.json does not list the "sensor_depth" modality is refused, naming its meta.json.
"""
import collections
import os
import re
import threading

import numpy as np

from physstd import cli, config
from physstd.data import face_model, prepared, sensor_depth, spoof_types

DEFAULT_CACHE_BYTES = 2 << 30
FLIP_PROBABILITY = 0.5
MAX_BRIGHTNESS_DELTA = 0.25
INPUT_KEYS = tuple(config.INPUT_CHANNELS)
SENSOR_DEPTH = "sensor_depth"   # the input key, the modality in meta.json and the frames' folder in a video
RGB_ONLY = ["rgb"]              # the modalities of a set whose meta.json names none


def sensor_depth_units(meta, root, input_keys=INPUT_KEYS):
    """The depth units of a prepared set ("mm" or "uint8") when `input_keys` ask for sensor depth, else None. A set
    without the sensor_depth modality, or with units other than sensor_depth.UNITS, is one ValueError naming its
    meta.json."""
    unknown = [key for key in input_keys if key not in INPUT_KEYS]
    if unknown or "image" not in input_keys:
        raise ValueError(f"input keys {tuple(input_keys)}: expected the image and any of {', '.join(INPUT_KEYS[1:])}")
    if SENSOR_DEPTH not in input_keys:
        return None
    path = os.path.join(root, prepared.META_FILE)
    modalities = meta.get("modalities", RGB_ONLY)
    if not isinstance(modalities, list) or SENSOR_DEPTH not in modalities:
        raise ValueError(f"{path}: the method takes {SENSOR_DEPTH}, but this set's modalities are {modalities!r}; "
                         f"train and evaluate it on a set prepared with a depth stream (modalities [\"rgb\", "
                         f"\"{SENSOR_DEPTH}\"])")
    units = meta.get("depth_units")
    if units not in sensor_depth.UNITS:
        raise ValueError(f"{path}: depth_units must be one of {', '.join(sensor_depth.UNITS)}, got {units!r}")
    return units


def read_depth_frame(path, units, shape):
    """The raw depth image at `path` as stored ((H, W) uint16 for mm, uint8), or one ValueError naming the file: an
    unreadable image, or not one channel of the units' dtype and the (H, W) of `shape`."""
    try:
        depth = sensor_depth.read_depth_png(path)
    except (OSError, ValueError) as error:
        raise ValueError(f"{path}: not a readable depth image ({error})") from None
    if depth is None:
        raise ValueError(f"{path}: missing or not a readable depth image")
    dtype, (height, width) = np.dtype(config.DEPTH_DTYPES[units]), shape[:2]
    if depth.shape != (height, width) or depth.dtype != dtype:
        raise ValueError(f"{path}: expected a {width}x{height} one-channel {dtype.name} depth image (depth_units "
                         f"{units}), got {depth.shape} {depth.dtype}")
    return depth


class _ByteLRU:
    """Thread-safe least-recently-used cache bounded by the total nbytes of its numpy values."""

    def __init__(self, max_bytes):
        self.max_bytes = int(max_bytes)
        self._data = collections.OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()

    @staticmethod
    def _size(value):
        if isinstance(value, dict):
            return sum(v.nbytes for v in value.values())
        if isinstance(value, tuple):
            return sum(v.nbytes for v in value)
        return value.nbytes

    def get(self, key, load):
        with self._lock:
            if key in self._data:
                self._data.move_to_end(key)
                return self._data[key]
        value = load()
        size = self._size(value)
        if size <= self.max_bytes:
            with self._lock:
                if key not in self._data:
                    self._data[key] = value
                    self._bytes += size
                    while self._bytes > self.max_bytes:
                        _, old = self._data.popitem(last=False)
                        self._bytes -= self._size(old)
        return value


class PreparedVideos:
    """Cached access to the videos `video_ids` of a prepared dataset (read through prepared.PreparedDataset).

    Frames are N x N RGB uint8; per-video arrays are landmarks (F,Q,2), depth (F,K,K), face_depth (F,K,K),
    p0 (F,N,N) uint8, frame_numbers (F,); truth.npz (synthetic set) gives the true trace and mask; with
    "sensor_depth" among input_keys, train_sample ends with the raw depth crop (N,N) float32."""

    def __init__(self, root, video_ids, image_size=None, cache_bytes=DEFAULT_CACHE_BYTES, input_keys=("image",)):
        self.dataset = prepared.PreparedDataset(str(root))
        self.root = self.dataset.root
        self.depth_units = sensor_depth_units(self.dataset.meta, self.root, input_keys)
        self.image_size = int(self.dataset.image_size)
        if image_size is not None and int(image_size) != self.image_size:
            raise ValueError(f"{self.root!r} was prepared at image_size {self.image_size}, asked for {image_size}; "
                             f"prepare it again at that size")
        self.depth_size = int(self.dataset.depth_size)
        self.num_landmarks = int(self.dataset.meta["num_landmarks"])
        video_ids = [str(v) for v in video_ids]
        known = set(self.dataset.video_ids)
        missing = [v for v in video_ids if v not in known]
        if missing:
            raise ValueError(f"{len(missing)} video ids are not in {os.path.join(self.root, prepared.INDEX_FILE)!r}, "
                             f"e.g. {missing[:3]}")
        if not video_ids:
            raise ValueError(f"no video ids given for {self.root!r}")
        rows = [self.dataset.row(v) for v in video_ids]
        self.video_ids = video_ids
        self.labels = np.array([row["label"] for row in rows], np.int32)
        self.type_ids = np.array([spoof_types.type_id(row["spoof_type"]) for row in rows], np.int32)
        self.num_frames = np.array([row["num_frames"] for row in rows], np.int64)
        empty = [v for v, f in zip(video_ids, self.num_frames) if f < 1]
        if empty:
            raise ValueError(f"{os.path.join(self.root, prepared.INDEX_FILE)!r}: video {empty[0]!r} has no frames")
        self._cache = _ByteLRU(cache_bytes)
        self._triangles = face_model.face_triangles(self.num_landmarks)

    def frame(self, video, k):
        """Frame k of a video, (N, N, 3) uint8 RGB."""
        return self._cache.get(("frame", video, k), lambda: self.dataset.load_frame(self.video_ids[video], k))

    def arrays(self, video):
        """landmarks (F,Q,2) float32, depth (F,K,K) float32, face_depth (F,K,K) float32, p0 (F,N,N) uint8,
        frame_numbers (F,) int32."""
        return self._cache.get(("arrays", video), lambda: self.dataset.load_video(self.video_ids[video]))

    def sensor_depth(self, video, k):
        """Raw sensor depth of frame k, (N, N) float32 in the set's depth_units (0 = a hole)."""
        def load():
            path = os.path.join(self.dataset.video_dir(self.video_ids[video]), SENSOR_DEPTH, prepared.frame_filename(k))
            try:
                depth = read_depth_frame(path, self.depth_units, (self.image_size, self.image_size))
            except ValueError as error:   # a PreparedFormatError: the consumer of the pipeline names the file
                raise prepared.PreparedFormatError(str(error)) from None
            return depth.astype(np.float32)
        return self._cache.get(("sensor_depth", video, k), load)

    def has_truth(self, video):
        return os.path.exists(os.path.join(self.dataset.video_dir(self.video_ids[video]), prepared.TRUTH_FILE))

    def truth(self, video):
        """(trace (F,N,N,3), mask (F,N,N)) float32 from truth.npz, or None when the video has none."""
        if not self.has_truth(video):
            return None

        def load():
            truth = self.dataset.load_truth(self.video_ids[video])
            for key in ("trace", "mask"):
                if key not in truth:   # a PreparedFormatError: the consumer of the pipeline names the file
                    path = os.path.join(self.dataset.video_dir(self.video_ids[video]), prepared.TRUTH_FILE)
                    raise prepared.PreparedFormatError(f"{path}: lacks array {key!r} "
                                                       f"(has {', '.join(truth) or 'none'})")
            return truth["trace"], truth["mask"]
        return self._cache.get(("truth", video), load)

    def frames_before(self, video, limit):
        """Number of leading kept frames whose source frame number is < limit (at least 1)."""
        numbers = self.arrays(video)["frame_numbers"]
        return max(1, int(np.searchsorted(numbers, limit, side="left")))

    def train_sample(self, video, k, flip):
        """One training frame: image uint8, landmarks, barycentric index/weights, depth, face_depth, p0 and, for
        sensor-depth inputs, the raw sensor depth (flipped if asked)."""
        def load():
            arrays = self.arrays(video)
            image = self.frame(video, k)
            landmarks, p0 = arrays["landmarks"][k], arrays["p0"][k]
            depth, face_depth = arrays["depth"][k], arrays["face_depth"][k]
            if flip:
                image = image[:, ::-1]
                landmarks = face_model.flip_landmarks(landmarks, self.image_size).astype(np.float32)
                depth, face_depth, p0 = depth[:, ::-1], face_depth[:, ::-1], p0[:, ::-1]
            from physstd import ops   # TensorFlow: this module stays free of it (the flags read its constants)
            try:
                index, weights = ops.triangle_barycentrics(landmarks, self._triangles, self.image_size)
            except (ValueError, ArithmeticError) as error:   # landmarks that pass the range checks, yet no face
                path = os.path.join(self.dataset.video_dir(self.video_ids[video]), prepared.ARRAYS_FILE)
                raise prepared.PreparedFormatError(f"{path}: landmarks of frame {k} do not make a face mesh "
                                                   f"({error})") from None
            sample = (np.ascontiguousarray(image), np.ascontiguousarray(landmarks, np.float32),
                      np.asarray(index, np.int32), np.asarray(weights, np.float32),
                      np.ascontiguousarray(depth, np.float32), np.ascontiguousarray(face_depth, np.float32),
                      np.ascontiguousarray(p0))
            if self.depth_units is None:
                return sample
            raw = self.sensor_depth(video, k)
            return sample + (np.ascontiguousarray(raw[:, ::-1] if flip else raw),)
        return self._cache.get(("sample", video, k, bool(flip)), load)


def data_error(op_error):
    """The PreparedFormatError raised inside a pipeline's numpy_function, recovered from the tf.errors.OpError
    that tf.data hands to the consumer (it carries the Python exception as text); None for any other error.

    Errors inside a tf.data worker thread reach the main thread only as an OpError, with the Python traceback
    in its message; this turns the data errors among them back into the one-line message naming the file."""
    match = re.search(rf"{prepared.PreparedFormatError.__name__}: ([^\n]*)", str(getattr(op_error, "message", "")))
    return prepared.PreparedFormatError(match.group(1)) if match else None


cli.THREAD_ERROR_READERS.append(data_error)   # the entry points report such errors as one line (physstd.cli)


def _sample_spec(n, k, q, with_depth=False):
    return [((n, n, 3), "uint8"), ((q, 2), "float32"), ((n, n), "int32"), ((n, n, 3), "float32"),
            ((k, k), "float32"), ((k, k), "float32"), ((n, n), "uint8")] + [((n, n), "float32")] * with_depth


def _normalised_depth(raw, units):
    """The (N, N) raw depth of a sample as the network input (N, N, 1) (module doc)."""
    from physstd.ops import depth as depth_ops   # TensorFlow: this module stays free of it (the flags read it)

    return depth_ops.normalise_sensor_depth(raw[..., None], units)


def train_dataset(root, video_ids, image_size, batch_pairs, seed, *, flip_probability=FLIP_PROBABILITY,
                  max_brightness_delta=MAX_BRIGHTNESS_DELTA, frame_limit=None, cache_bytes=DEFAULT_CACHE_BYTES,
                  with_ids=False, num_parallel_calls=None, input_keys=("image",), frames_per_video=0):
    """Endless dataset of {"live": sample, "spoof": sample} batches of `batch_pairs` pairs (see module doc).

    sample: image (B,N,N,3) float32 [0,1]; landmarks (B,Q,2) float32; bary_index (B,N,N) int32;
    bary_weights (B,N,N,3) float32; depth (B,K,K,1) float32 (M0: 0 for spoof); face_depth (B,K,K,1) float32
    (the fitted face, spoof frames too); p0 (B,N,N,1) float32; spoof_type (B,) int32;
    label (B,) int32 (+ video_id (B,) string, frame (B,) int32, flipped (B,) bool when with_ids; + sensor_depth
    (B,N,N,1) float32 in [0, 1] when input_keys hold it, module doc).
    frame_limit: only frames whose source frame number is < frame_limit (SiW protocol 1: 60).
    frames_per_video: k > 0 trains on k frames of each video spread evenly over its usable frames (the middle
    frame of each of k equal runs: position floor((j + 1/2) n / k) of n, j < k), every frame of a video of at most
    k; 0: every frame."""
    import tensorflow as tf

    store = PreparedVideos(root, video_ids, image_size, cache_bytes, input_keys)
    n, k, q = store.image_size, store.depth_size, store.num_landmarks
    live = np.flatnonzero(store.labels == 0)
    spoof = np.flatnonzero(store.labels == 1)
    if live.size == 0 or spoof.size == 0:
        raise ValueError(f"train_dataset needs live and spoof videos; got {live.size} live, {spoof.size} spoof")
    types = np.unique(store.type_ids[spoof])
    by_type = [spoof[store.type_ids[spoof] == t] for t in types]
    type_offsets = np.cumsum([0] + [len(v) for v in by_type[:-1]])
    usable = store.num_frames.copy()
    if frame_limit is not None:
        usable = np.array([store.frames_before(v, frame_limit) for v in range(len(store.video_ids))], np.int64)

    seed = int(seed)
    live_t = tf.constant(live, tf.int64)
    spoof_t = tf.constant(np.concatenate(by_type), tf.int64)
    type_offsets_t = tf.constant(type_offsets, tf.int64)
    type_counts_t = tf.constant([len(v) for v in by_type], tf.int64)
    if frames_per_video < 0:
        raise ValueError(f"frames_per_video must be >= 0 (0: every frame); got {frames_per_video}")
    usable_t = tf.constant(usable, tf.int64)
    labels_t = tf.constant(store.labels, tf.int32)
    type_ids_t = tf.constant(store.type_ids, tf.int32)
    ids_t = tf.constant(store.video_ids)
    n_types = len(types)

    def pick(uniform, count):
        return tf.minimum(tf.cast(uniform * tf.cast(count, tf.float32), tf.int64), count - 1)

    def pick_frame(uniform, count):
        if not frames_per_video:
            return pick(uniform, count)
        k = tf.constant(frames_per_video, tf.int64)
        j = pick(uniform, tf.minimum(count, k))
        return tf.where(count > k, (2 * j + 1) * count // (2 * k), j)

    def choose(i):
        u = tf.random.stateless_uniform([8], seed=tf.stack([tf.constant(seed, tf.int64), i]))
        # A fresh permutation of the types every n_types pairs: each type once per block.
        order = tf.argsort(tf.random.stateless_uniform(
            [n_types], seed=tf.stack([tf.constant(seed, tf.int64), -1 - i // n_types])))
        t = tf.cast(tf.gather(order, i % n_types), tf.int64)
        live_video = tf.gather(live_t, pick(u[0], tf.size(live_t, out_type=tf.int64)))
        spoof_video = tf.gather(spoof_t, type_offsets_t[t] + pick(u[4], type_counts_t[t]))
        choice = {}
        for name, video, base in (("live", live_video, 0), ("spoof", spoof_video, 4)):
            choice[name] = (video, pick_frame(u[base + 1], tf.gather(usable_t, video)), u[base + 2] < flip_probability,
                            (2.0 * u[base + 3] - 1.0) * max_brightness_delta)
        return choice

    spec = _sample_spec(n, k, q, store.depth_units is not None)

    def load_pair(lv, lk, lf, sv, sk, sf):
        return (*store.train_sample(int(lv), int(lk), bool(lf)), *store.train_sample(int(sv), int(sk), bool(sf)))

    def finish(arrays, video, frame, flipped, delta):
        image, landmarks, bary_index, bary_weights, depth, face_depth, p0 = arrays[:7]
        image = tf.clip_by_value(tf.cast(image, tf.float32) / 255.0 + delta, 0.0, 1.0)
        sample = {"image": image, "landmarks": landmarks, "bary_index": bary_index, "bary_weights": bary_weights,
                  "depth": depth[..., None], "face_depth": face_depth[..., None],
                  "p0": tf.cast(p0, tf.float32)[..., None],
                  "spoof_type": tf.gather(type_ids_t, video), "label": tf.gather(labels_t, video)}
        if with_ids:
            sample.update(video_id=tf.gather(ids_t, video), frame=tf.cast(frame, tf.int32), flipped=flipped)
        if store.depth_units is not None:
            sample[SENSOR_DEPTH] = _normalised_depth(arrays[7], store.depth_units)
        return sample

    def load(choice):
        (lv, lk, lf, ld), (sv, sk, sf, sd) = choice["live"], choice["spoof"]
        out = tf.numpy_function(load_pair, [lv, lk, lf, sv, sk, sf], [tf.as_dtype(d) for _, d in spec] * 2,
                                stateful=False)
        for tensor, (shape, _) in zip(out, spec * 2):
            tensor.set_shape(shape)
        half = len(spec)
        return {"live": finish(out[:half], lv, lk, lf, ld), "spoof": finish(out[half:], sv, sk, sf, sd)}

    parallel = tf.data.AUTOTUNE if num_parallel_calls is None else num_parallel_calls
    dataset = tf.data.Dataset.counter(start=0, dtype=tf.int64).map(choose)
    dataset = dataset.map(load, num_parallel_calls=parallel, deterministic=True)
    return dataset.batch(int(batch_pairs), drop_remainder=True).prefetch(tf.data.AUTOTUNE)


def eval_dataset(root, video_ids, image_size, batch_size, include_truth=False, cache_bytes=DEFAULT_CACHE_BYTES,
                 num_parallel_calls=None, input_keys=("image",)):
    """Every kept frame of every video in `video_ids`, in order, batched (last batch may be smaller).

    Yields image (B,N,N,3) float32, depth (B,K,K,1), face_depth (B,K,K,1), p0 (B,N,N,1), landmarks (B,Q,2),
    label, spoof_type (B,) int32, video_id (B,) string, frame (B,) int32 (index of the kept frame),
    frame_number (B,) int32 (index in the source video); with include_truth also true_trace (B,N,N,3) and
    true_mask (B,N,N,1) from truth.npz (zeros for live videos that have none; a spoof video without one is an
    error); sensor_depth (B,N,N,1) float32 in [0, 1] when input_keys hold it (module doc)."""
    import tensorflow as tf

    store = PreparedVideos(root, video_ids, image_size, cache_bytes, input_keys)
    n, k, q = store.image_size, store.depth_size, store.num_landmarks
    if include_truth:
        for v in range(len(store.video_ids)):
            if store.labels[v] == 1 and not store.has_truth(v):
                raise ValueError(f"include_truth: spoof video {store.video_ids[v]!r} of {store.root!r} has no "
                                 f"{prepared.TRUTH_FILE}")
    videos = np.repeat(np.arange(len(store.video_ids)), store.num_frames)
    frames = np.concatenate([np.arange(f) for f in store.num_frames])

    def load_frame(video, frame):
        video, frame = int(video), int(frame)
        arrays = store.arrays(video)
        out = [store.frame(video, frame), arrays["landmarks"][frame], arrays["depth"][frame], arrays["p0"][frame],
               arrays["frame_numbers"][frame], arrays["face_depth"][frame]]
        if include_truth:
            truth = store.truth(video)
            if truth is None:
                out += [np.zeros((n, n, 3), np.float32), np.zeros((n, n), np.float32)]
            else:
                out += [truth[0][frame], truth[1][frame]]
        if store.depth_units is not None:
            out.append(store.sensor_depth(video, frame))
        return out

    spec = [((n, n, 3), tf.uint8), ((q, 2), tf.float32), ((k, k), tf.float32), ((n, n), tf.uint8), ((), tf.int32),
            ((k, k), tf.float32)]
    if include_truth:
        spec += [((n, n, 3), tf.float32), ((n, n), tf.float32)]
    if store.depth_units is not None:
        spec.append(((n, n), tf.float32))
    labels_t = tf.constant(store.labels, tf.int32)
    type_ids_t = tf.constant(store.type_ids, tf.int32)
    ids_t = tf.constant(store.video_ids)

    def load(video, frame):
        out = tf.numpy_function(load_frame, [video, frame], [d for _, d in spec], stateful=False)
        for tensor, (shape, _) in zip(out, spec):
            tensor.set_shape(shape)
        element = {"image": tf.cast(out[0], tf.float32) / 255.0, "landmarks": out[1], "depth": out[2][..., None],
                   "p0": tf.cast(out[3], tf.float32)[..., None], "label": tf.gather(labels_t, video),
                   "spoof_type": tf.gather(type_ids_t, video), "video_id": tf.gather(ids_t, video),
                   "frame": tf.cast(frame, tf.int32), "frame_number": out[4], "face_depth": out[5][..., None]}
        if include_truth:
            element.update(true_trace=out[6], true_mask=out[7][..., None])
        if store.depth_units is not None:
            element[SENSOR_DEPTH] = _normalised_depth(out[-1], store.depth_units)
        return element

    parallel = tf.data.AUTOTUNE if num_parallel_calls is None else num_parallel_calls
    dataset = tf.data.Dataset.from_tensor_slices((videos.astype(np.int64), frames.astype(np.int64)))
    dataset = dataset.map(load, num_parallel_calls=parallel, deterministic=True)
    return dataset.batch(int(batch_size)).prefetch(tf.data.AUTOTUNE)
