"""The PhySTD training iteration (PhySTD paper, Alg. 1, Eq. 23-24) and the objects it updates.

`PhySTDTrainer` owns the generator, the discriminators D1..D4, one Adam for the generator and one for the
discriminators (half the learning rate), the step counter, and ONE `tf.function` train step. The step is
written per replica and run with `strategy.run`, so the same code serves the default strategy, a
MirroredStrategy and a MultiWorkerMirroredStrategy.

One iteration, as in Alg. 1 (losses from physstd.methods.physstd.losses, trace algebra from physstd.trace; the
switches below are PhySTDConfig fields, physstd.methods.physstd.config):
  step 1+2  G on [I_live, I_spoof]; live faces rebuilt from the spoofs (Eq. 11) and new spoofs made on the
            live faces (Eq. 15); D1..D4 judge {[I_live]n1, I_low}, {[I_live]n2, I_mid}, {I_live, I_hi},
            {I_spoof, I_synth} (trace.discriminator_inputs). Losses a1 L_depth + a2 L_G + a3 L_P + a4 L_R (Eq. 23).
  step 2    Discriminator update with L_D (Eq. 18) from the same forward pass: the fakes enter the
            discriminator tape as constants, and each tape is applied to its own network's variables only.
  step 3    "Harder" spoofs from the step-1 traces (stop-gradient inputs and targets, physstd.trace); G on
            [I_live, I_hard], a balanced batch for BatchNorm; losses a5 L_S + a6 L_H (Eq. 24).
            L_S covers both halves (a live face's true trace is zero), L_H the hard half.
  update    Alg. 1 line 13 back-propagates the losses of all steps and updates once: ONE generator update on
            Eq. 23 + Eq. 24 (as the authors' released code: one generator op on the summed losses) and one
            discriminator update. --generator_updates=2 restores the former schedule: a generator update after
            step 1+2, then another with the step-3 losses from the already-updated weights.
`steps="1"` keeps only the depth, mask and regularizer terms of step 1 (no GAN: the traces stay inactive);
`steps="12"` drops step 3 (the ablations of the PhySTD paper's Tab. 3).

BatchNorm statistics of a network move only when that network runs forward in training mode. D1..D4 only ever
run in training mode, once per iteration on the concatenated real and fake batch (as in the authors' STDN
code); the generator's statistics move in steps 1 and 3.
"""
import tensorflow as tf

from physstd import trace
from physstd.data import face_model
from physstd.methods.physstd.discriminator import build_discriminators
from physstd.methods.physstd.generator import Generator
from physstd.methods.physstd.losses import (depth_loss, discriminator_loss, generator_adversarial_loss,
                                            hard_depth_loss, inpainting_mask_loss, split_trace_regularizer_losses,
                                            synthesis_component_loss, synthesis_loss, trace_regularizer_loss)
from physstd.models.layers import dtype_policy
from physstd.runs import network_checkpoint
from physstd.train.trainer import Trainer

# Weighted terms of the two generator objectives (Eq. 23, Eq. 24), by LossWeights field.
GENERATOR_TERMS = ("depth", "adversarial", "inpainting_mask", "trace_regularizer", "live_trace_regularizer")
SYNTHESIS_TERMS = ("synthesis", "hard_depth")


def _halves(out):
    """(first half, second half) of a GeneratorOutput along the batch axis."""
    parts = [tf.split(x, 2, axis=0) for x in out]
    return type(out)(*(p[0] for p in parts)), type(out)(*(p[1] for p in parts))


def _weighted_sum(losses, weights, terms):
    return tf.add_n([getattr(weights, name) * losses[name] for name in terms if name in losses])


class PhySTDTrainer(Trainer):
    """Generator, D1..D4, their optimizers and the step counter; `train_step(batch)` runs one Alg. 1 iteration.

    model_config: physstd.models.ModelConfig; config: physstd.train.config.TrainConfig whose method_config is a
    PhySTDConfig; num_landmarks: Q of the data (selects face_model.face_triangles(Q)); strategy: a tf.distribute
    strategy (default: the current one).
    Everything is created in strategy.scope() and built at once, so a checkpoint can be restored right away.
    """

    def __init__(self, model_config, config, num_landmarks=face_model.NUM_LANDMARKS, strategy=None):
        super().__init__("physstd_trainer", model_config, config, strategy)
        self.loss_weights = self.method_config.loss_weights
        self.triangles = tf.constant(face_model.face_triangles(num_landmarks), dtype=tf.int32)
        with self.strategy.scope(), dtype_policy(config.mixed_precision):
            self.generator = Generator(model_config)
            self.discriminators = build_discriminators(model_config)
            self.step = tf.Variable(0, dtype=tf.int64, trainable=False, name="step")
            self.generator_optimizer = self._adam(1.0, "generator_adam")
            self.discriminator_optimizer = self._adam(config.discriminator_lr_ratio, "discriminator_adam")
            self._build()
        self._compile()

    # --- the training iteration (Alg. 1) ---------------------------------------------------------------
    def _train_step(self, batch):
        """Alg. 1 on one replica's {'live': sample, 'spoof': sample} batch of pairs; returns its losses."""
        live, spoof = batch["live"], batch["spoof"]
        use_gan, use_synthesis = self.method_config.steps != "1", self.method_config.steps == "123"
        joint = self.method_config.generator_updates == 1
        losses = {}
        with tf.GradientTape() as generator_tape:
            synth, discriminator_tape = self._disentangle(live, spoof, losses)
            terms = GENERATOR_TERMS
            if use_synthesis and joint:
                self._harder_step(live, synth, losses)
                terms += SYNTHESIS_TERMS
            losses["generator_total"] = _weighted_sum(losses, self.loss_weights, terms)
        self._update(self.generator_optimizer, generator_tape, losses["generator_total"], self.generator)
        if use_gan:  # Step 2: the discriminators, at their own (half) learning rate.
            self._update(self.discriminator_optimizer, discriminator_tape, losses["discriminator"],
                         *self.discriminators)
        if use_synthesis and not joint:  # --generator_updates=2: step 3 updates G again, from the new weights.
            with tf.GradientTape() as synthesis_tape:
                self._harder_step(live, synth, losses)
                losses["synthesis_total"] = _weighted_sum(losses, self.loss_weights, SYNTHESIS_TERMS)
            self._update(self.generator_optimizer, synthesis_tape, losses["synthesis_total"], self.generator)
        return losses

    def _disentangle(self, live, spoof, losses):
        """Steps 1 (+2): G on [I_live, I_spoof]; live faces rebuilt from the spoofs (Eq. 11), the spoofs' traces
        moved onto the live faces (Eq. 15), D1..D4 on real against fake. Adds L_depth, L_R, L_P and (with the
        GAN) L_G and L_D to `losses`; returns (SpoofSynthesis or None, the discriminators' tape or None)."""
        cfg = self.model_config
        out = self.generator(tf.concat([live["image"], spoof["image"]], 0), training=True)
        out_live, out_spoof = _halves(out)
        losses["depth"] = depth_loss(out.M, tf.concat([live["depth"], spoof["depth"]], 0))
        if self.method_config.live_trace_weight > 0:  # the released code's weighting (--live_trace_weight)
            losses.update(split_trace_regularizer_losses(out_live, out_spoof))
        else:  # Eq. 20: one expectation over live and spoof faces
            losses["trace_regularizer"] = trace_regularizer_loss(out)
        if cfg.has_inpainting:
            losses["inpainting_mask"] = inpainting_mask_loss(
                out_spoof.P, trace.additive_trace(out_spoof, cfg), spoof["p0"], self.method_config.beta)
        if self.method_config.steps == "1":
            return None, None
        synth = trace.synthesize_spoof(
            live["image"], spoof["image"], out_spoof, live["landmarks"], spoof["landmarks"],
            (live["bary_index"], live["bary_weights"]), self.triangles, cfg)
        reals, fakes = trace.discriminator_inputs(live["image"], spoof["image"], out_spoof, synth.image, cfg,
                                                  self.method_config.match_real_band,
                                                  self.method_config.band_limit_inpainted)
        with tf.GradientTape() as discriminator_tape:
            real_scores, fake_scores = self._discriminate(reals, fakes)
            losses["discriminator"] = discriminator_loss(real_scores, fake_scores)
        losses["adversarial"] = generator_adversarial_loss(fake_scores)
        return synth, discriminator_tape

    def _harder_step(self, live, synth, losses):
        """Step 3: "harder" spoofs from the step-1 traces (stop-gradient inputs and targets), G on the balanced
        batch [I_live, I_hard]; adds L_S (Eq. 21, both halves: a live face's true trace is zero) and L_H (Eq. 22,
        the hard half) to `losses`."""
        cfg = self.model_config
        hard = trace.harder_sample(live["image"], synth.traces, synth.content, cfg, self._replica_seed())
        images = tf.concat([live["image"], hard.image], 0)
        out_hard = self.generator(images, training=True)
        # L_S targets of the live and the hard half: (true live face, true region) for the overall effect, the
        # trace components for --synthesis_target=components. A live face's true trace is zero.
        if self.method_config.synthesis_target == "effect":
            targets = ((live["image"], tf.zeros_like(hard.traces.P)), (live["image"], hard.traces.P))

            def synthesis(image, out, target):
                return synthesis_loss(image, out, target[0], target[1], cfg)
        else:
            targets = (trace.no_trace(live["image"], cfg), hard.traces)

            def synthesis(image, out, target):
                return synthesis_component_loss(out, target)
        weight = self.method_config.hard_synthesis_weight
        if weight == 1:  # the paper: one L_S over the balanced batch
            losses["synthesis"] = synthesis(images, out_hard, tf.nest.map_structure(
                lambda a, b: tf.concat([a, b], 0), targets[0], targets[1]))
        else:  # --hard_synthesis_weight: the transplanted (hard) half weighted apart from the live half
            out_live, out_hard_half = _halves(out_hard)
            losses["synthesis"] = 0.5 * (synthesis(live["image"], out_live, targets[0])
                                         + weight * synthesis(hard.image, out_hard_half, targets[1]))
        losses["hard_depth"] = hard_depth_loss(_halves(out_hard)[1].M)

    def _predict(self, images):
        return self.generator(images, training=False)

    def _visuals(self, batch):
        """The panels of the TensorBoard image grid for one (non-distributed) batch, in inference mode: rows are
        the live then the spoof samples; `synthesis` holds, on live row i, spoof i's traces on live face i."""
        live, spoof = batch["live"], batch["spoof"]
        images = tf.concat([live["image"], spoof["image"]], 0)
        out = self.generator(images, training=False)
        synth = trace.synthesize_spoof(
            live["image"], spoof["image"], _halves(out)[1], live["landmarks"], spoof["landmarks"],
            (live["bary_index"], live["bary_weights"]), self.triangles, self.model_config)
        return dict(image=images, B=out.B, C=out.C, T=out.T, P=out.P, I_P=out.I_P, M=out.M,
                    reconstruction=trace.reconstruct_live(images, out, self.model_config),
                    synthesis=tf.concat([synth.image, tf.zeros_like(spoof["image"])], 0),
                    depth_target=tf.concat([live["depth"], spoof["depth"]], 0))

    # --- helpers of the step ---------------------------------------------------------------------------
    def _discriminate(self, reals, fakes):
        """D_k on concat[real_k, fake_k] in one training-mode call; returns (real scores, fake scores), k = 1..4."""
        scores = [tf.split(d(tf.concat([real, fake], 0), training=True), 2, axis=0)
                  for d, real, fake in zip(self.discriminators, reals, fakes)]
        return [s[0] for s in scores], [s[1] for s in scores]

    def _replica_seed(self):
        """Stateless seed of step 3's random trace weights: (seed, step * replicas + replica id)."""
        context = tf.distribute.get_replica_context()
        replica = tf.cast(context.replica_id_in_sync_group, tf.int64)
        return tf.stack([tf.constant(self.config.seed, tf.int64),
                         self.step * self.strategy.num_replicas_in_sync + replica])

    # --- construction ----------------------------------------------------------------------------------
    def _build(self):
        """Create every variable now (networks on a dummy batch, optimizer slots) so restore is exact."""
        size = self.model_config.image_size
        dummy = tf.zeros((2, size, size, 3))
        self.generator(dummy, training=False)
        for d in self.discriminators:
            d(dummy, training=False)
        self.generator_optimizer.build(self.generator.trainable_variables)
        self.discriminator_optimizer.build(self.discriminator_variables)
        generator_ids = {id(v) for v in self.generator.variables}
        if any(id(v) in generator_ids for v in self.discriminator_variables):
            raise RuntimeError("generator and discriminators share a variable")

    def _networks(self):
        return [self.generator, *self.discriminators]

    def _optimizers(self):
        return [self.generator_optimizer, self.discriminator_optimizer]

    @property
    def discriminator_variables(self):
        """Trainable variables of D1..D4."""
        return [v for d in self.discriminators for v in d.trainable_variables]

    def checkpoint_objects(self):
        """What a training checkpoint holds: every network variable by path, both optimizers, the step."""
        objects = {"generator": network_checkpoint(self.generator), "step": self.step,
                   "generator_optimizer": self.generator_optimizer,
                   "discriminator_optimizer": self.discriminator_optimizer}
        objects.update({f"discriminator{k}": network_checkpoint(d) for k, d in enumerate(self.discriminators, 1)})
        return objects
