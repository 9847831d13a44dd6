"""Training across machines: a MultiWorkerMirroredStrategy loop that Keras 3's fit cannot run yet.

Keras 3's `Model.fit` reduces the first distributed batch eagerly to build the model, which
MultiWorkerMirroredStrategy refuses ("Attempt to convert a value (PerReplica...) to a Tensor";
keras-team/keras#20585). This loop does what fit does for our models: one `strategy.run` per
step, gradients averaged over every replica of every worker, and the same Keras callbacks.

Workers find each other through TF_CONFIG, as in TensorFlow's multi-worker guide:
    TF_CONFIG='{"cluster": {"worker": ["host1:port", "host2:port"]}, "task": {"type": "worker", "index": 0}}'
"""
import json
import os

import numpy as np


def task():
    """(this worker's index, number of workers) from TF_CONFIG; (0, 1) without it."""
    config = json.loads(os.environ.get("TF_CONFIG") or "{}")
    workers = config.get("cluster", {}).get("worker", [])
    return int(config.get("task", {}).get("index", 0)), max(1, len(workers))


def is_chief():
    """True on the worker that saves: worker 0 (or a single process)."""
    return task()[0] == 0


def shard(items, index, count):
    """The share of `items` that worker `index` of `count` trains on: every count-th, from index."""
    return items[index::count]


def unsharded(dataset):
    """The dataset with tf.data auto-sharding off: each worker already reads its own shard."""
    import tensorflow as tf

    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.OFF
    return dataset.with_options(options)


def fit(model, dataset, strategy, epochs, steps, callbacks, initial_epoch=0):
    """model.fit for MultiWorkerMirroredStrategy: `epochs` of `steps` steps, driving Keras callbacks.

    Args:
        model: a compiled keras.Model built under `strategy.scope()`.
        dataset: a tf.data.Dataset of (x, y) batches of the global batch size (each worker's
            own shard, auto-sharding off: see `unsharded`).
        strategy: the tf.distribute strategy.
        epochs, steps, initial_epoch: as in Model.fit.
        callbacks: Keras callbacks (on_train_batch_*, on_epoch_*, model.stop_training).
    """
    import keras
    import tensorflow as tf

    loss_fn, optimizer = model.loss, model.optimizer
    replicas = strategy.num_replicas_in_sync

    def replica_step(x, y):
        with tf.GradientTape() as tape:
            logits = model(x, training=True)
            loss = loss_fn(y, tf.cast(logits, tf.float32))
            scaled = loss / replicas  # gradients are summed over replicas: this makes them a mean
        grads = tape.gradient(scaled, model.trainable_variables)
        optimizer.apply_gradients(zip(grads, model.trainable_variables))
        return scaled

    @tf.function
    def train_step(iterator):
        x, y = next(iterator)
        return strategy.reduce("SUM", strategy.run(replica_step, args=(x, y)), axis=None)

    iterator = iter(strategy.experimental_distribute_dataset(dataset))
    callbacks = keras.callbacks.CallbackList(callbacks, model=model)
    model.stop_training = False
    callbacks.on_train_begin()
    for epoch in range(initial_epoch, epochs):
        callbacks.on_epoch_begin(epoch)
        losses = []
        for step in range(steps):
            callbacks.on_train_batch_begin(step)
            losses.append(float(train_step(iterator)))
            callbacks.on_train_batch_end(step, {"loss": losses[-1]})
            if model.stop_training:
                break
        callbacks.on_epoch_end(epoch, {"loss": float(np.mean(losses))})
        if model.stop_training:
            break
    callbacks.on_train_end()
