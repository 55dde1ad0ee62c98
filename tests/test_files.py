"""physstd.files: NumPy reads under one lock, safe from many threads at once; the folder swap; natural order."""
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


def _tree(folder):
    """{relative path: text} of every file under `folder`."""
    return {str(path.relative_to(folder)): path.read_text() for path in sorted(folder.rglob("*")) if path.is_file()}


def _folder(path, **contents):
    path.mkdir()
    for name, text in contents.items():
        (path / name).write_text(text)
    return path


def test_swap_in_folder_moves_a_new_folder_and_replaces_an_old_one_without_leftovers(tmp_path):
    final = tmp_path / "out" / "video"
    final.parent.mkdir()
    files.swap_in_folder(_folder(tmp_path / "a", x="1"), final)
    assert _tree(final) == {"x": "1"} and not (tmp_path / "a").exists()
    files.swap_in_folder(_folder(tmp_path / "b", y="2"), final)
    assert _tree(final) == {"y": "2"}
    assert sorted(p.name for p in final.parent.iterdir()) == ["video"]   # the old folder is gone, no hidden one
    # A caller's own place for the old folder (an export's staging folder): used, then emptied.
    staging = tmp_path / "staging"
    staging.mkdir()
    files.swap_in_folder(_folder(tmp_path / "c", z="3"), final, old=staging / "previous")
    assert _tree(final) == {"z": "3"} and list(staging.iterdir()) == []


def test_swap_in_folder_puts_the_old_folder_back_when_the_new_one_cannot_move(tmp_path, monkeypatch):
    final = _folder(tmp_path / "video", x="old")
    real_replace, calls = files.os.replace, []

    def failing_second_rename(source, target):
        calls.append((str(source), str(target)))
        if len(calls) == 2:
            raise OSError(28, "No space left on device")
        real_replace(source, target)
    monkeypatch.setattr(files.os, "replace", failing_second_rename)
    with pytest.raises(OSError, match="No space"):
        files.swap_in_folder(_folder(tmp_path / "new", x="new"), final)
    assert _tree(final) == {"x": "old"} and _tree(tmp_path / "new") == {"x": "new"}
    assert calls[1] == (str(tmp_path / "new"), str(final))   # the old folder moved aside first, then back
    assert sorted(p.name for p in tmp_path.iterdir()) == ["new", "video"]


def test_natural_key_compares_numbers_as_numbers_and_ignores_case_with_the_name_breaking_ties():
    names = ["frame10.png", "Frame2.png", "frame2.png", "frame1.png", "b", "A", "fold_10", "fold_9", "a"]
    assert sorted(names, key=files.natural_key) == ["A", "a", "b", "fold_9", "fold_10", "frame1.png", "Frame2.png",
                                                     "frame2.png", "frame10.png"]
    # The order does not depend on the order the names come in (a folder's listing order).
    assert sorted(reversed(names), key=files.natural_key) == sorted(names, key=files.natural_key)
    assert sorted(["2", "10", "half_mask", "1"], key=files.natural_key) == ["1", "2", "10", "half_mask"]
