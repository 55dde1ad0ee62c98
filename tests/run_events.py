"""Reading back what a training run wrote to TensorBoard (tests of the loop, its summaries and its stops)."""
import os


def read_events(run_dir):
    """{tag: {step: (plugin name, value as a numpy array)}} from the event files of <run_dir>/tensorboard."""
    import tensorflow as tf

    tags = {}
    log_dir = os.path.join(run_dir, "tensorboard")
    for name in os.listdir(log_dir):
        for event in tf.compat.v1.train.summary_iterator(os.path.join(log_dir, name)):
            for value in event.summary.value:
                tensor = tf.make_ndarray(value.tensor)
                tags.setdefault(value.tag, {})[event.step] = (value.metadata.plugin_data.plugin_name, tensor)
    return tags
