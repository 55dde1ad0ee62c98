"""physstd.files: NumPy reads under one lock, safe from many threads at once."""
import concurrent.futures

import numpy as np
import pytest

from physstd import files


def test_load_npz_and_npy_return_the_saved_arrays(tmp_path):
    a, b = np.arange(12, dtype=np.float32).reshape(3, 4), np.array([1, 2, 3], np.uint8)
    np.savez(tmp_path / "x.npz", a=a, b=b)
    np.save(tmp_path / "y.npy", a)
    loaded = files.load_npz(tmp_path / "x.npz")
    assert sorted(loaded) == ["a", "b"]
    np.testing.assert_array_equal(loaded["a"], a)
    assert loaded["b"].dtype == np.uint8
    np.testing.assert_array_equal(files.load_npy(tmp_path / "y.npy"), a)


def test_pickled_arrays_are_refused(tmp_path):
    np.save(tmp_path / "p.npy", np.array([{"a": 1}], dtype=object), allow_pickle=True)
    with pytest.raises(ValueError):
        files.load_npy(tmp_path / "p.npy")


def test_many_threads_read_the_same_file(tmp_path):
    # The input pipeline's situation: several tf.data threads reading .npz files at once.
    arrays = {f"k{i}": np.full((2, i + 1), i, np.int16) for i in range(20)}
    np.savez(tmp_path / "many.npz", **arrays)

    def read(_):
        return files.load_npz(tmp_path / "many.npz")

    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        results = list(pool.map(read, range(200)))
    for result in results:
        assert all(np.array_equal(result[k], v) for k, v in arrays.items())
