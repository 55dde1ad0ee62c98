"""De-Spoof's trainer (the De-Spoof paper), on the shared base physstd.train.trainer.Trainer (the optimizer update,
the learning-rate schedule, the replica reduction and the finiteness check).

Batches are {'live': sample, 'spoof': sample}; samples carry image (B, N, N, 3), depth (B, K, K, 1) = M0 and
face_depth (B, K, K, 1): the fitted face depth of every frame, spoofs included.

DeSpoofTrainer: DS-Net estimates the noise N of every input and I_hat = I - N; per iteration (Sec. 3.3, 4.1)
    DS-Net update on Eq. 7, J_T = J_z + 3 J_m + 0.005 J_r + 0.1 J_DQ + 0.016 J_VQ_test, with VQ-Net fixed;
    VQ-Net update on Eq. 3 (real live faces against the reconstructions of every input), with DS-Net fixed.
  Both updates read the same batch and the same forward pass (the paper alternates them over two batches;
  the fakes are constants in VQ-Net's update because only its variables are updated from its tape). DQ-Net
  is a pre-trained AuxiliaryNet, run in inference mode and never updated (Sec. 4.1: "trained separately and
  remains fixed"); `train_dq=True` instead trains it jointly on L1 to M0 of the inputs, as the authors'
  released code does. All three networks use the run's learning rate (the paper: 3e-5 for every network).
"""
import os

import tensorflow as tf

from physstd import runs
from physstd.data import face_model
from physstd.methods.auxiliary import losses as aux_losses
from physstd.methods.auxiliary.network import AuxiliaryNet, rgb_hsv
from physstd.methods.auxiliary.run_config import CHECKPOINT_KEY, run_model_config
from physstd.methods.auxiliary.trainer import pair_images, pair_values
from physstd.methods.despoof import inference
from physstd.methods.despoof import losses as ds_losses
from physstd.methods.despoof.networks import DSNet, VQNet
from physstd.models.layers import dtype_policy
from physstd.train.trainer import Trainer


class DeSpoofTrainer(Trainer):
    """DS-Net, VQ-Net, the pre-trained DQ-Net, their optimizers and the step counter (De-Spoof paper, Sec. 3-4.1).

    dq_net: the DQ-Net, either an AuxiliaryNet at this image size (created in this strategy's scope) or the
    directory of a trained Auxiliary run (`--dq_run`), whose weights are loaded into a DQ-Net built here
    (with that run's width); required.
    weights: losses.DeSpoofWeights (lambda1..4 of Eq. 7); train_dq: train DQ-Net jointly (released code) instead
    of keeping it frozen (the paper).
    """

    def __init__(self, model_config, config, num_landmarks=face_model.NUM_LANDMARKS, strategy=None, dq_net=None,
                 weights=None, train_dq=False):
        super().__init__("despoof_trainer", model_config, config, strategy)
        if dq_net is None:
            raise ValueError("De-Spoof needs a pre-trained DQ-Net: train an Auxiliary run first and pass its run "
                             "directory (--dq_run=<auxiliary run dir>)")
        self.weights = weights or ds_losses.DeSpoofWeights()
        self.train_dq = bool(train_dq)
        self.repetitive_centre = int(round(ds_losses.REPETITIVE_CENTRE_FRACTION * model_config.image_size))
        size = model_config.image_size
        with self.strategy.scope(), dtype_policy(config.mixed_precision):
            self.ds_net, self.vq_net = DSNet(model_config), VQNet(model_config)
            self.dq_net = self._dq_net(dq_net)
            self.step = tf.Variable(0, dtype=tf.int64, trainable=False, name="step")
            self.ds_optimizer = self._adam(1.0, "ds_adam")
            self.vq_optimizer = self._adam(1.0, "vq_adam")
            self.dq_optimizer = self._adam(1.0, "dq_adam") if self.train_dq else None
            dummy = tf.zeros((2, size, size, 6))
            for network in (self.ds_net, self.vq_net, self.dq_net):
                network(dummy, training=False)
            self.ds_optimizer.build(self.ds_net.trainable_variables)
            self.vq_optimizer.build(self.vq_net.trainable_variables)
            if self.train_dq:
                self.dq_optimizer.build(self.dq_net.trainable_variables)
        self._compile()

    def _dq_net(self, dq_net):
        size = self.model_config.image_size
        if isinstance(dq_net, AuxiliaryNet):
            if dq_net.model_config.image_size != size:
                raise ValueError(f"the DQ-Net takes {dq_net.model_config.image_size}-pixel images, De-Spoof {size}")
            return dq_net
        if not isinstance(dq_net, (str, os.PathLike)):
            raise TypeError(f"dq_net must be an AuxiliaryNet or an Auxiliary run directory, got {type(dq_net)}")
        run_dir = os.fspath(dq_net)
        dq_config = run_model_config(run_dir, method=None)
        if dq_config.image_size != size:
            raise ValueError(f"{run_dir}: the Auxiliary run was trained at image size {dq_config.image_size}, "
                             f"this De-Spoof run uses {size}")
        # Built in this strategy scope and precision; its default name keys the checkpoint by variable path.
        network = AuxiliaryNet(dq_config)
        network(tf.zeros((1, size, size, 6)), training=False)
        runs.restore_networks(run_dir, {CHECKPOINT_KEY: network})
        return network

    # --- the training iteration (Sec. 3.3-3.4, Eq. 2-7) --------------------------------------------------
    def _train_step(self, batch):
        images, is_spoof = pair_images(batch)
        image6 = rgb_hsv(images)
        live_count = tf.shape(batch["live"]["image"])[0]
        losses = {}
        with tf.GradientTape() as ds_tape, tf.GradientTape() as vq_tape:
            noise, zero_one_map = self.ds_net(image6, training=True)
            reconstruction = ds_losses.reconstruct_live(image6, noise)
            losses["zero_one_map"] = ds_losses.zero_one_map_loss(zero_one_map, is_spoof)
            losses["magnitude"] = ds_losses.magnitude_loss(noise[:live_count])
            losses["repetitive"] = ds_losses.repetitive_loss(noise, is_spoof, self.repetitive_centre)
            losses["depth_quality"] = ds_losses.depth_quality_loss(self.dq_net(reconstruction, training=False),
                                                            pair_values(batch, "face_depth"))
            # VQ-Net: real live faces against the reconstructions of every input, in one training-mode call.
            logits = self.vq_net(tf.concat([image6[:live_count], reconstruction], 0), training=True)
            real_logits, fake_logits = logits[:live_count], logits[live_count:]
            losses["visual_quality"] = ds_losses.visual_quality_generator_loss(fake_logits)
            losses["total"] = ds_losses.despoof_total_loss(losses, self.weights)
            losses["vq"] = ds_losses.visual_quality_discriminator_loss(real_logits, fake_logits)
        self._update(self.ds_optimizer, ds_tape, losses["total"], self.ds_net)
        self._update(self.vq_optimizer, vq_tape, losses["vq"], self.vq_net)
        if self.train_dq:
            with tf.GradientTape() as dq_tape:
                losses["dq_depth"] = aux_losses.auxiliary_depth_loss(self.dq_net(image6, training=True),
                                                             pair_values(batch, "depth"))
            self._update(self.dq_optimizer, dq_tape, losses["dq_depth"], self.dq_net)
        return losses

    def _predict(self, images):
        """Noise N (6 ch), its RGB additive trace, the 0\\1 map, the reconstruction I_hat (RGB) and DQ-Net's
        depth of I_hat (M), and the two score components (physstd.methods.despoof.inference.outputs, renamed for
        the image summaries)."""
        out = inference.outputs(self.ds_net, self.dq_net, images)
        return {"noise": out["noise"], "trace": out["additive_trace"], "zero_one_map": out["zero_one_map"],
                "reconstruction": out["live"], "M": out["depth"],
                "noise_magnitude": out["noise_magnitude"], "depth_mean": out["depth_mean"]}

    def _visuals(self, batch):
        images, _ = pair_images(batch)
        out = self._predict(images)
        return dict(image=images, trace=out["trace"], reconstruction=out["reconstruction"], M=out["M"],
                    zero_one_map=out["zero_one_map"], depth_target=pair_values(batch, "face_depth"))

    def _networks(self):
        return [self.ds_net, self.vq_net, self.dq_net]

    def _optimizers(self):
        return [o for o in (self.ds_optimizer, self.vq_optimizer, self.dq_optimizer) if o is not None]

    def checkpoint_objects(self):
        """DS-, VQ- and DQ-Net (so a De-Spoof run predicts on its own), the optimizers, the step."""
        objects = {"ds_net": runs.network_checkpoint(self.ds_net), "vq_net": runs.network_checkpoint(self.vq_net),
                   "dq_net": runs.network_checkpoint(self.dq_net), "step": self.step,
                   "ds_optimizer": self.ds_optimizer, "vq_optimizer": self.vq_optimizer}
        if self.dq_optimizer is not None:
            objects["dq_optimizer"] = self.dq_optimizer
        return objects
