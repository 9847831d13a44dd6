"""Resumable training: what a run needs to continue from its last finished epoch."""
import json
from pathlib import Path

import numpy as np

from . import store


class ResumeState:
    """What `train(resume=True)` needs to continue a run: weights, optimizer state, history.

    Two files beside the checkpoints, rewritten atomically after every epoch:
    NAME.resume.npz holds the weights (float32) and the optimizer's variables (its moment
    estimates rounded to bfloat16, which halves the file with no measurable effect on the run),
    and NAME.resume.json the recipe, history and best scores.
    """

    def __init__(self, folder, name, recipe, defaults):
        """recipe: the run's TrainConfig as a dict; defaults: TrainConfig() as a dict."""
        self.arrays = Path(folder) / f"{name}.resume.npz"
        self.state = Path(folder) / f"{name}.resume.json"
        self.recipe, self.defaults = recipe, defaults

    def save(self, model, state):
        """Write the model's weights and optimizer variables, and `state` with the recipe."""
        arrays = {f"w{i}": w for i, w in enumerate(model.get_weights())}
        for i, v in enumerate(model.optimizer.variables):
            value = np.asarray(v)
            arrays[f"o{i}"] = _to_bf16(value) if value.dtype == np.float32 and value.size > 1 else value
        self.arrays.parent.mkdir(parents=True, exist_ok=True)
        def write(tmp):
            with open(tmp, "wb") as f:
                np.savez(f, **arrays)

        store.atomic_write(self.arrays, write)
        text = json.dumps({**state, "recipe": self.recipe}, default=float)
        store.atomic_write(self.state, lambda tmp: Path(tmp).write_text(text))

    def load(self, model):
        """Restore weights and optimizer state into a compiled model; returns the saved state dict.

        Raises ValueError when there is nothing to resume or the recipe differs.
        """
        if not (self.arrays.exists() and self.state.exists()):
            raise ValueError(f"nothing to resume: no {self.state.name} in {self.state.parent}")
        state = json.loads(self.state.read_text())
        # An option added to TrainConfig since the run started counts as unchanged at its default,
        # and one since removed is no longer part of the recipe.
        changed = {k for k in self.recipe
                   if _plain(state["recipe"].get(k, self.defaults.get(k))) != _plain(self.recipe.get(k))}
        if changed:
            raise ValueError("the recipe differs from the run being resumed: " + ", ".join(
                f"{k} was {state['recipe'].get(k)!r}, now {self.recipe.get(k)!r}" for k in sorted(changed)))
        with np.load(self.arrays) as saved:
            model.set_weights([saved[f"w{i}"] for i in range(len(model.get_weights()))])
            model.optimizer.build(model.trainable_variables)
            for i, v in enumerate(model.optimizer.variables):
                value = saved[f"o{i}"]
                v.assign(_from_bf16(value) if value.dtype == np.uint16 else value)
        return state

    def remove(self):
        """Delete both files (the run finished)."""
        self.arrays.unlink(missing_ok=True)
        self.state.unlink(missing_ok=True)


def _to_bf16(a):
    """float32 -> bfloat16 bits as uint16 (rounded to nearest)."""
    bits = np.ascontiguousarray(a, np.float32).view(np.uint32)
    return ((bits + 0x7FFF + ((bits >> 16) & 1)) >> 16).astype(np.uint16)


def _from_bf16(a):
    """bfloat16 bits as uint16 -> float32."""
    return (a.astype(np.uint32) << 16).view(np.float32)


def _plain(value):
    """Lists and tuples compare equal in a recipe read back from json."""
    return [_plain(v) for v in value] if isinstance(value, (list, tuple)) else value
