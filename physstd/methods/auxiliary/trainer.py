"""The Auxiliary depth CNN's trainer (physstd.train.trainer.Trainer): one L1-to-M0 update of the network on
[I_live, I_spoof] per iteration, one Adam.

Batches are {'live': sample, 'spoof': sample}; samples carry image (B, N, N, 3) and depth (B, K, K, 1) = M0.
"""
import tensorflow as tf

from physstd.data import face_model
from physstd.methods.auxiliary import losses as aux_losses
from physstd.methods.auxiliary.network import AuxiliaryNet
from physstd.methods.auxiliary.run_config import CHECKPOINT_KEY
from physstd.models.layers import dtype_policy
from physstd.train.trainer import OneNetworkTrainer


def pair_images(batch):
    """(images [I_live, I_spoof], is_spoof (2B,) 0/1) of one replica's batch."""
    live, spoof = batch["live"]["image"], batch["spoof"]["image"]
    images = tf.concat([live, spoof], 0)
    is_spoof = tf.concat([tf.zeros(tf.shape(live)[:1]), tf.ones(tf.shape(spoof)[:1])], 0)
    return images, is_spoof


def pair_values(batch, key):
    """[live[key], spoof[key]] of one replica's batch."""
    return tf.concat([batch["live"][key], batch["spoof"][key]], 0)


class AuxiliaryTrainer(OneNetworkTrainer):
    """The Auxiliary depth CNN, its Adam and the step counter; `train_step` is one L1-to-M0 update."""

    NETWORK_KEY = CHECKPOINT_KEY

    def __init__(self, model_config, config, num_landmarks=face_model.NUM_LANDMARKS, strategy=None):
        super().__init__("auxiliary_trainer", model_config, config, strategy)
        with self.strategy.scope(), dtype_policy(config.mixed_precision):
            self.network = AuxiliaryNet(model_config)
            self.step = tf.Variable(0, dtype=tf.int64, trainable=False, name="step")
            self.optimizer = self._adam(1.0, "auxiliary_adam")
            size = model_config.image_size
            self.network(tf.zeros((2, size, size, 3)), training=False)
            self.optimizer.build(self.network.trainable_variables)
        self._compile()

    def _train_step(self, batch):
        images, _ = pair_images(batch)
        with tf.GradientTape() as tape:
            depth = self.network(images, training=True)
            loss = aux_losses.auxiliary_depth_loss(depth, pair_values(batch, "depth"))
        self._update(self.optimizer, tape, loss, self.network)
        return {"depth": loss, "total": loss}

    def _predict(self, images):
        """{'M': depth map (batch, K, K, 1), 'depth_mean': mean(M), 'score': -mean(M)} per frame."""
        depth = self.network(images, training=False)
        return {"M": depth, "depth_mean": aux_losses.depth_mean(depth), "score": aux_losses.auxiliary_score(depth)}

    def _visuals(self, batch):
        images, _ = pair_images(batch)
        return dict(image=images, M=self.network(images, training=False), depth_target=pair_values(batch, "depth"))

