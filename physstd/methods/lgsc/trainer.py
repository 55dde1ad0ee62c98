"""LGSC's trainer on the shared base physstd.train.trainer.Trainer ("Learning Generalized Spoof Cues for Face
Anti-spoofing", Feng et al. 2020, Sec. 3.5, 4.1): one Adam for the cue generator and the auxiliary classifier on
Eq. 9, L = alpha1 L_r + alpha2 sum_{E5, D1..D4} L_t + alpha3 L_a, per iteration.

Batches are {'live': sample, 'spoof': sample} (the paper's 1:1 halves); with --patch_size each face is cut to a
seeded random patch (physstd.methods.lgsc.patches; seed (--seed, step), so a resumed run cuts the patches an
uninterrupted one would for the same batch). Learning rate: linear warm-up from 0 over --warmup_steps, then the
shared staircase (the released code: 1e-3, x0.95 every 600 steps, 1000 warm-up steps).
"""
import tensorflow as tf

from physstd import runs
from physstd.data import face_model
from physstd.methods.lgsc import inference
from physstd.methods.lgsc import losses as lgsc_losses
from physstd.methods.lgsc.networks import AuxiliaryClassifier, CueGenerator, load_torchvision_resnet18
from physstd.methods.lgsc.patches import random_patches
from physstd.models.layers import dtype_policy
from physstd.train.trainer import Trainer, learning_rate_at

SPOOF_CUE_TARGET = 1.0   # Tab. 5 "RL on live and spoof": the spoof cues' all-one map


def warmup_learning_rate_at(step, base, decay_every, factor, warmup_steps):
    """base * step / warmup_steps while step < warmup_steps, then the staircase learning_rate_at(step, ...) (the
    released code's linear warm-up from 0 to base around an exponential staircase that counts from step 0).
    Works on floats and tensors; warmup_steps 0: the staircase alone."""
    staircase = learning_rate_at(step, base, decay_every, factor)
    if not warmup_steps:
        return staircase
    return tf.where(step < warmup_steps, base * step / warmup_steps, staircase)


def paired_images(batch):
    """(images [I_live, I_spoof], is_spoof (2B,) 0/1) of one replica's batch."""
    live, spoof = batch["live"]["image"], batch["spoof"]["image"]
    is_spoof = tf.concat([tf.zeros(tf.shape(live)[:1]), tf.ones(tf.shape(spoof)[:1])], 0)
    return tf.concat([live, spoof], 0), is_spoof


class LGSCTrainer(Trainer):
    """The cue generator, the auxiliary classifier, their one Adam and the step counter; `train_step` is one Eq. 9
    update of both."""

    def __init__(self, model_config, config, num_landmarks=face_model.NUM_LANDMARKS, strategy=None):
        super().__init__("lgsc_trainer", model_config, config, strategy)
        own = self.method_config
        self.weights = lgsc_losses.LGSCWeights(own.regression_weight, own.triplet_weight, own.classification_weight)
        self.spoof_target = SPOOF_CUE_TARGET if own.regress_spoof else None
        size = own.patch_size or model_config.image_size
        with self.strategy.scope(), dtype_policy(config.mixed_precision):
            self.generator = CueGenerator(model_config.width, own.cue_head)
            self.classifier = AuxiliaryClassifier(model_config.width)
            self.step = tf.Variable(0, dtype=tf.int64, trainable=False, name="step")
            self.optimizer = self._adam(1.0, "lgsc_adam")
            images = tf.zeros((2, size, size, 3))
            cue, _ = self.generator(images, training=False)
            self.classifier(inference.classifier_input(images, cue, own.classifier_input), training=False)
            self.optimizer.build(self.generator.trainable_variables + self.classifier.trainable_variables)
        if own.backbone_weights:   # the encoder only, as the released code (the classifier starts at random)
            load_torchvision_resnet18(own.backbone_weights, self.generator.encoder)
        self._compile()

    def learning_rate(self):
        """Linear warm-up, then the staircase (module doc)."""
        c = self.config
        return warmup_learning_rate_at(tf.cast(self.step, tf.float32), c.learning_rate, float(c.lr_decay_every),
                                       c.lr_decay_factor, float(self.method_config.warmup_steps))

    def _train_step(self, batch):
        images, is_spoof = paired_images(batch)
        own = self.method_config
        if own.patch_size:
            seed = tf.stack([tf.constant(self.config.seed, tf.int64), self.step])
            images = random_patches(images, own.patch_size, seed)
        losses = {}
        with tf.GradientTape() as tape:
            cue, features = self.generator(images, training=True)
            logits = self.classifier(inference.classifier_input(images, cue, own.classifier_input), training=True)
            losses["regression"] = lgsc_losses.cue_regression_loss(cue, is_spoof, self.spoof_target)
            scales = features + (cue,) if own.triplet_on_cue else features   # Tab. 5 "TL on E5-SC"
            losses["triplet"] = lgsc_losses.multiscale_triplet_loss(scales, is_spoof)
            losses["classification"] = lgsc_losses.auxiliary_classification_loss(logits, is_spoof)
            losses["total"] = lgsc_losses.lgsc_total_loss(losses, self.weights)
        self._update(self.optimizer, tape, losses["total"], self.generator, self.classifier)
        return losses

    def _predict(self, images):
        """The cue C and the score terms on whole faces (physstd.methods.lgsc.inference.outputs)."""
        return inference.outputs(self.generator, self.classifier, images, self.method_config.classifier_input)

    def _visuals(self, batch):
        images, _ = paired_images(batch)
        return {"image": images, "cue": self._predict(images)["cue"]}

    def _networks(self):
        return [self.generator, self.classifier]

    def _optimizers(self):
        return [self.optimizer]

    def checkpoint_objects(self):
        generator_key, classifier_key = inference.NETWORK_KEYS
        return {generator_key: runs.network_checkpoint(self.generator),
                classifier_key: runs.network_checkpoint(self.classifier), "step": self.step,
                "optimizer": self.optimizer}
