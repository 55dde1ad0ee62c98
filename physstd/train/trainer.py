"""The base every method's trainer shares (physstd.methods.<name>.trainer subclasses it): the per-replica step
run with strategy.run, the optimizer update, the learning-rate schedule and its Adams, the finiteness check.

A method's trainer is what the training loop (physstd.train.loop) drives through the interface of
physstd.methods.base (Method.trainer); this module knows no method.
"""
import keras
import tensorflow as tf

from physstd import runs


def learning_rate_at(step, base, decay_every, factor):
    """Staircase schedule of Sec. 4.1: base * factor ** floor(step / decay_every) (works on ints and tensors)."""
    return base * factor ** (step // decay_every)


class Trainer(tf.Module):
    """What every method's trainer shares: the per-replica step run with strategy.run, the optimizer update, the
    learning-rate schedule and its Adams, the finiteness check, and the tf.functions of the trainer interface.

    A subclass sets `step` and its networks and optimizers in __init__, defines `_train_step(batch)` (one
    replica's step, returning its losses), `_predict(images)`, `_visuals(batch)`, `_networks()`, `_optimizers()`
    and `checkpoint_objects()`, then calls `_compile()`.
    """

    def __init__(self, name, model_config, config, strategy):
        super().__init__(name=name)
        self.model_config, self.config = model_config, config
        self.method_config = config.method_config   # the method's own config (physstd.methods.base.MethodConfig)
        self.strategy = strategy or tf.distribute.get_strategy()

    def _compile(self):
        """The tf.functions of the trainer interface (built after the networks)."""
        # autograph=False: every branch in the steps is on static configuration (plain Python).
        self.train_step = tf.function(self._distributed_step, jit_compile=self.config.jit_compile, autograph=False)
        self.predict = tf.function(self._predict, autograph=False)
        self.visuals = tf.function(self._visuals, autograph=False)

    def _distributed_step(self, batch):
        """strategy.run of the per-replica step, losses averaged over replicas, then step += 1."""
        per_replica = self.strategy.run(self._train_step, args=(batch,))
        losses = {name: self.strategy.reduce(tf.distribute.ReduceOp.MEAN, value, axis=None)
                  for name, value in per_replica.items()}
        self.step.assign_add(1)
        return losses

    def _update(self, optimizer, tape, loss, *networks):
        """One optimizer step on the networks' trainable variables from d loss / d variables.

        The optimizer sums gradients over replicas, so each replica's (batch-mean) loss is divided by their
        number; in mixed precision the gradient is taken of the loss times the dynamic loss scale, which
        LossScaleOptimizer divides out (and skips the update on inf/nan gradients).
        """
        variables = [v for network in networks for v in network.trainable_variables]
        scale = 1.0 / self.strategy.num_replicas_in_sync
        if isinstance(optimizer, keras.optimizers.LossScaleOptimizer):
            scale = optimizer.scale_loss(scale)
        gradients = tape.gradient(loss, variables, output_gradients=tf.cast(scale, loss.dtype))
        optimizer.apply_gradients(zip(gradients, variables))

    def learning_rate(self):
        """Learning rate at the current step: the staircase schedule of Sec. 4.1."""
        c = self.config
        return learning_rate_at(tf.cast(self.step, tf.float32), c.learning_rate, float(c.lr_decay_every),
                                c.lr_decay_factor)

    def _adam(self, ratio, name):
        """Adam whose learning rate is ratio x the schedule at the trainer's step (not the optimizer's own
        iteration count, which counts two per iteration with --generator_updates=2)."""
        c = self.config
        adam = keras.optimizers.Adam(learning_rate=lambda: ratio * self.learning_rate(), beta_1=c.adam_beta1,
                                     beta_2=c.adam_beta2, name=name)
        return keras.optimizers.LossScaleOptimizer(adam, name=f"{name}_loss_scale") if c.mixed_precision else adam

    def variables_finite(self):
        """Whether every variable of the networks and optimizers is finite (checked before each save)."""
        checks = [tf.reduce_all(tf.math.is_finite(v)) for v in self._float_variables()]
        return bool(tf.reduce_all(checks))

    def _float_variables(self):
        every = [v for n in self._networks() for v in n.variables] + \
                [v for o in self._optimizers() for v in o.variables]
        return [v for v in every if tf.as_dtype(v.dtype).is_floating]

    def _networks(self):
        raise NotImplementedError

    def _optimizers(self):
        raise NotImplementedError


class OneNetworkTrainer(Trainer):
    """A Trainer of one network `self.network` updated by one optimizer `self.optimizer` (the Auxiliary CNN, the
    throw-away methods of the tests): its networks, optimizers and checkpoint objects, the network saved under
    NETWORK_KEY."""

    NETWORK_KEY = "network"

    def _networks(self):
        return [self.network]

    def _optimizers(self):
        return [self.optimizer]

    def checkpoint_objects(self):
        return {self.NETWORK_KEY: runs.network_checkpoint(self.network), "step": self.step,
                "optimizer": self.optimizer}
