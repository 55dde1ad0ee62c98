"""The training iteration of the multi-modal disentanglement network ("Learning Polysemantic Spoof Trace: A
Multi-Modal Disentanglement Network for Face Anti-spoofing", Li et al. 2023, Sec. 3, Eq. 6-14).

One iteration on a {'live': sample, 'spoof': sample} batch (image and sensor_depth), as the paper's three steps:
  generator step      G and phi on [I_live, I_spoof] of every modality; I_hat = I - T (Eq. 1); synthesised spoofs
                      I_i + T_j (j: the spoofs shuffled); D_L on live vs I_hat, D_S on spoof vs I_i + T_j, once,
                      in training mode, on real || fake. One update of G and phi on Eq. 13; then the centres of
                      L_center move (Wen et al.'s update, the batch's sums all-reduced across replicas).
  discriminator step  One update of every D on alpha7 L_D (Eq. 7) from the same forward pass: the fakes are
                      constants to the discriminators' tape (stop-gradient).
  consistency step    T~ = the step's spoof traces T_j (stop-gradient), with probability 0.5 mixed: w T_j + (1 - w) T_k,
                      w ~ U(0, 1), k another shuffle; G on I_i + T~; one update of G on alpha8 Eq. 14.
Random draws are stateless, seeded by (--seed, step, replica): a resumed run draws what an uninterrupted one would.
Adam for G + phi and for the discriminators, at the same learning rate (Sec. 4: 5e-5, no decay).
"""
import tensorflow as tf

from physstd import runs
from physstd.methods.mmdn import inference
from physstd.methods.mmdn import losses as mmdn_losses
from physstd.methods.mmdn.networks import (MODALITY_CHANNELS, build_discriminators, load_torchvision_resnet50,
                                          parse_modalities)
from physstd.models.layers import dtype_policy
from physstd.train.trainer import Trainer

MIX_PROBABILITY = 0.5   # of mixing two spoofs' traces in the consistency step (ours: the paper says "randomly")


def paired_inputs(batch, modalities):
    """({modality: [live; spoof] (2B, N, N, c)}, is_spoof (2B,) 0/1, B) of one replica's batch."""
    live, spoof = batch["live"], batch["spoof"]
    named = {m: tf.concat([a, b], 0) for m, a, b in zip(
        modalities, inference.modality_inputs(live, modalities).values(),
        inference.modality_inputs(spoof, modalities).values())}
    count = tf.shape(live["image"])[0]
    return named, tf.concat([tf.zeros([count]), tf.ones([count])], 0), count


class MMDNTrainer(Trainer):
    """The generator, phi, the discriminators, the centres, two Adams and the step counter."""

    def __init__(self, model_config, config, strategy=None):
        super().__init__("mmdn_trainer", model_config, config, strategy)
        own = self.method_config
        self.modalities = parse_modalities(own.mmdn_modalities)
        self.weights = mmdn_losses.MMDNWeights()
        width, size = model_config.width, model_config.image_size
        with self.strategy.scope(), dtype_policy(config.mixed_precision):
            self.generator, self.classifier = inference.build_networks(self.modalities, width, size,
                                                                       config.mixed_precision)
            self.discriminators = build_discriminators(self.modalities, width)
            self.step = tf.Variable(0, dtype=tf.int64, trainable=False, name="step")
            # Every replica assigns the same all-reduced update: the first replica's write stands for all.
            self.centres = {m: tf.Variable(tf.zeros((2, self.generator.decoders[m].centre_channels)),
                                           trainable=False, name=f"centres_{m}",
                                           synchronization=tf.VariableSynchronization.ON_WRITE,
                                           aggregation=tf.VariableAggregation.ONLY_FIRST_REPLICA)
                            for m in self.modalities}
            for (_, m), scales in self.discriminators.items():
                for d in scales:
                    d(tf.zeros((1, size, size, MODALITY_CHANNELS[m])))
            self.generator_optimizer = self._adam(1.0, "generator_adam")
            self.discriminator_optimizer = self._adam(1.0, "discriminator_adam")
            self.generator_optimizer.build(self.generator.trainable_variables + self.classifier.trainable_variables)
            self.discriminator_optimizer.build([v for d in self._discriminator_list() for v in d.trainable_variables])
        if own.backbone_weights:   # the encoders only: every stream starts from the same ImageNet weights
            for encoder in self.generator.encoders.values():
                load_torchvision_resnet50(own.backbone_weights, encoder)
        # L_id's face recogniser (Eq. 8), outside the trained and checkpointed objects.
        self.identity_model = tf.saved_model.load(own.identity_model) if own.identity_model else None
        self._compile()

    def _train_step(self, batch):
        named, is_spoof, count = paired_inputs(batch, self.modalities)
        seed = self._replica_seed()
        order = tf.argsort(tf.random.stateless_uniform([count], seed=seed))
        losses = {}
        with tf.GradientTape() as generator_tape:
            out = self.generator(named, training=True)
            traces = out["trace"]
            spoof_map = self.classifier(tf.concat([traces[m] for m in self.modalities], -1), training=True)
            reconstructed = {m: named[m] - traces[m] for m in self.modalities}                       # Eq. 1
            synthesised = {m: named[m][:count] + tf.gather(traces[m][count:], order) for m in self.modalities}
            reals = {key: named[key[1]][:count] if key[0] == "L" else named[key[1]][count:]
                     for key in self.discriminators}
            fakes = {key: reconstructed[key[1]] if key[0] == "L" else synthesised[key[1]]
                     for key in self.discriminators}
            with tf.GradientTape() as discriminator_tape:
                real_scores, fake_scores = self._discriminate(reals, fakes)
                losses["discriminator"] = mmdn_losses.discriminator_loss(real_scores, fake_scores)
                discriminator_total = self.weights.discriminator * losses["discriminator"]
            losses["adversarial"] = mmdn_losses.generator_adversarial_loss(fake_scores)
            losses["intensity"] = mmdn_losses.intensity_loss(traces, is_spoof)
            losses["encoder"] = mmdn_losses.encoder_classification_loss(out["logit"], is_spoof)
            if self.identity_model is not None and "rgb" in self.modalities:
                losses["identity"] = mmdn_losses.identity_loss(self.identity_model, named["rgb"],
                                                               reconstructed["rgb"])
            losses["classification"] = mmdn_losses.trace_classification_loss(spoof_map, is_spoof)
            losses["centre"] = mmdn_losses.centre_loss(out["centre_feature"], is_spoof,
                                                       {m: self.centres[m] for m in self.modalities})
            losses["generator_total"] = mmdn_losses.weighted_generator_loss(losses, self.weights)
        self._update(self.generator_optimizer, generator_tape, losses["generator_total"], self.generator,
                     self.classifier)
        self._update_centres(out["centre_feature"], is_spoof)
        self._update(self.discriminator_optimizer, discriminator_tape, discriminator_total,
                     *self._discriminator_list())
        spoof_traces = {m: tf.stop_gradient(traces[m][count:]) for m in self.modalities}
        losses["consistency"] = self._consistency_step(named, spoof_traces, order, count, seed)
        return losses

    def _consistency_step(self, named, spoof_traces, order, count, seed):
        """Eq. 14: G regenerates the (possibly mixed) spoof traces it is given on live faces; one update of G."""
        draws = tf.random.stateless_uniform([2], seed=seed + tf.constant([0, 1], tf.int64))
        other = tf.argsort(tf.random.stateless_uniform([count], seed=seed + tf.constant([0, 2], tf.int64)))
        mix, w = draws[0] < MIX_PROBABILITY, draws[1]
        targets = {m: tf.where(mix, w * tf.gather(t, order) + (1.0 - w) * tf.gather(t, other), tf.gather(t, order))
                   for m, t in spoof_traces.items()}
        with tf.GradientTape() as tape:
            out = self.generator({m: named[m][:count] + targets[m] for m in self.modalities}, training=True)
            loss = mmdn_losses.consistency_loss(out["trace"], targets)
            weighted = self.weights.consistency * loss
        # The heads psi take no part in Eq. 14: the update is of the layers the traces come from.
        generator = self.generator
        self._update(self.generator_optimizer, tape, weighted, *generator.encoders.values(), *generator.fusions,
                     *generator.decoders.values())
        return loss

    def _discriminate(self, reals, fakes):
        """Every D on real || fake in one training-mode call: ({key: [real scores per scale]}, {key: [fake]})."""
        real_scores, fake_scores = {}, {}
        for key, scales in self.discriminators.items():
            split = [tf.shape(reals[key])[0], tf.shape(fakes[key])[0]]
            scores = [tf.split(d(tf.concat([reals[key], fakes[key]], 0), training=True), split, axis=0)
                      for d in scales]
            real_scores[key], fake_scores[key] = [s[0] for s in scores], [s[1] for s in scores]
        return real_scores, fake_scores

    def _update_centres(self, features, is_spoof):
        """The centre update of Wen et al. 2016 (alpha 0.5) with the batch's sums over every replica."""
        context = tf.distribute.get_replica_context()
        for m in self.modalities:
            sums, counts = mmdn_losses.centre_update_sums(tf.stop_gradient(features[m]), is_spoof, self.centres[m])
            sums, counts = context.all_reduce(tf.distribute.ReduceOp.SUM, [sums, counts])
            self.centres[m].assign(mmdn_losses.updated_centres(self.centres[m], sums, counts))

    def _replica_seed(self):
        """Stateless seed of the step's draws: (seed, step * replicas + replica id)."""
        context = tf.distribute.get_replica_context()
        replica = tf.cast(context.replica_id_in_sync_group, tf.int64)
        return tf.stack([tf.constant(self.config.seed, tf.int64),
                         self.step * self.strategy.num_replicas_in_sync + replica])

    def _predict(self, inputs):
        return inference.outputs(self.generator, self.classifier, inputs)

    def _visuals(self, batch):
        live, spoof = batch["live"], batch["spoof"]
        inputs = {key: tf.concat([live[key], spoof[key]], 0) for key in ("image", "sensor_depth")}
        return dict(self._predict(inputs), image=inputs["image"], sensor_depth=inputs["sensor_depth"])

    def _discriminator_list(self):
        return [d for scales in self.discriminators.values() for d in scales]

    def _networks(self):
        return [self.generator, self.classifier, *self._discriminator_list()]

    def _optimizers(self):
        return [self.generator_optimizer, self.discriminator_optimizer]

    def _float_variables(self):
        return super()._float_variables() + list(self.centres.values())

    def checkpoint_objects(self):
        generator_key, classifier_key = inference.NETWORK_KEYS
        objects = {generator_key: runs.network_checkpoint(self.generator),
                   classifier_key: runs.network_checkpoint(self.classifier), "step": self.step,
                   "generator_optimizer": self.generator_optimizer,
                   "discriminator_optimizer": self.discriminator_optimizer}
        objects.update({f"centres_{m}": variable for m, variable in self.centres.items()})
        objects.update({d.name: runs.network_checkpoint(d) for d in self._discriminator_list()})
        return objects
