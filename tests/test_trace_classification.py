"""Sec. 4.4 spoof-medium classification: classes, confusion layout, a learnable toy problem, the run on a fixture."""
import numpy as np
import pytest
import tensorflow as tf

from deploy_fixtures import make_run_dir, write_dataset
from physstd.eval import trace_classification as tc

N = 32


def test_classes_follow_the_paper_order():
    types = ["replay", "live", "half_mask", "paper_glasses", "print", "cosmetic"]
    assert tc.class_names(types, "category") == ["live", "print", "replay", "mask", "makeup", "partial"]
    assert tc.class_names(["print", "live", "replay"], "type") == ["live", "replay", "print"]
    assert tc.class_of("silicone_mask", "category") == "mask"
    with pytest.raises(ValueError, match="class scheme"):
        tc.class_of("print", "medium")


def test_confusion_rows_are_true_classes():
    matrix = tc.confusion_matrix([0, 0, 1, 2, 2, 2], [0, 1, 1, 2, 0, 2], 3)
    np.testing.assert_array_equal(matrix, [[1, 1, 0], [0, 1, 0], [1, 0, 2]])
    table = tc.confusion_markdown(matrix, ["live", "print", "replay"])
    assert table.splitlines()[0] == "| Label \\ Predict | live | print | replay |"
    assert table.splitlines()[4] == "| replay | 1 | 0 | 2 |"


@pytest.mark.slow
def test_the_cnn_learns_separable_media():
    rng = np.random.default_rng(0)
    colours = np.array([[0.0, 0.0, 0.0], [0.3, -0.2, 0.1], [-0.2, 0.3, 0.0]])

    def make(count):
        y = np.repeat(np.arange(3), count)
        x = colours[y][:, None, None, :] + rng.normal(0, 0.05, (len(y), 16, 16, 3))
        return x.astype(np.float32), y
    train_x, train_y = make(20)
    test_x, test_y = make(10)
    accuracy, matrix, predicted = tc.train_and_test(train_x, train_y, test_x, test_y, 3, epochs=25, batch_size=16,
                                                    learning_rate=3e-3, width=8)
    assert matrix.sum() == 30 and matrix.sum(axis=1).tolist() == [10, 10, 10]
    assert accuracy == pytest.approx(np.mean(predicted == test_y))
    assert accuracy >= 0.9


def test_run_on_a_frozen_model_reports_traces_and_images(tmp_path):
    data = str(tmp_path / "data")
    write_dataset(data, size=N)
    generator, model_config = make_run_dir(str(tmp_path / "run"), data, "p1", size=N)
    def traces_of(images):
        out = generator(images, training=False)
        return tf.concat([out.B, out.C, out.T], -1)

    features, names = tc.collect_inputs(traces_of, data, ["s4_print", "s4_live"], N)
    out = generator(tc.as_float(features["images"]), training=False)
    np.testing.assert_allclose(features["traces"].astype(np.float32),
                               tf.concat([out.B, out.C, out.T], -1).numpy(), atol=2e-3)   # float16 storage
    assert names.tolist() == ["print", "print", "live", "live"]
    result = tc.run(str(tmp_path / "run"), scheme="type", epochs=2, log=lambda message: None)
    assert result["classes"] == ["live", "replay", "print"]
    assert (result["train_samples"], result["test_samples"]) == (12, 12)
    for name in tc.INPUTS:
        matrix = np.array(result[name]["confusion"])
        assert matrix.shape == (3, 3) and matrix.sum() == 12 and matrix.sum(axis=1).tolist() == [4, 4, 4]
        assert result[name]["accuracy"] == pytest.approx(np.trace(matrix) / 12)
