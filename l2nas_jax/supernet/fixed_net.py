"""The fixed network of a found architecture, as trained from scratch: build it, count it.

A space says *what* to build (:attr:`l2nas_jax.spaces.base.Space.evaluation`: its
``plan`` gives the network's keywords for ``Space.network``); this module wraps the result in
:class:`EvalNetwork` (input resizing, a linearly increasing drop-path rate) and counts its
parameters and MACs from the instantiated module, without compiling anything, so they can be
compared with the space's analytic counter.
"""

from __future__ import annotations

from typing import Any, Mapping

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from l2nas_jax.spaces import get_space
from l2nas_jax.spaces.base import Evaluation, NetOptions, Space


class EvalNetwork(nn.Module):
    """A fixed network + what its training protocol needs around it, without changing its parameters.

    * ``resolution``: inputs are resized (bilinear) to ``resolution`` x ``resolution`` first (an
      OFA subnet's r; augmentation happens before, at the dataset's size).
    * ``drop_path`` > 0: DARTS' linearly increased drop-path. The rate of epoch ``e`` (0-based) is
      ``drop_path * e / epochs``; the step counter lives in the ``batch_stats`` collection
      (``drop_path_step``), so it is checkpointed with the state and a resumed run uses the rates
      an uninterrupted one would. The wrapped net gets it as its ``drop_path_rate`` call argument.

    The wrapped net shares this module's scope (``nn.share_scope``): parameter paths are the net's
    own (``params/cell0/...``), so checkpoints and counts are those of the bare network.
    """

    net: nn.Module
    resolution: int | None = None
    drop_path: float = 0.0
    steps_per_epoch: int = 1
    epochs: int = 1

    def setup(self) -> None:
        nn.share_scope(self, self.net)
        if self.drop_path > 0:
            self.drop_path_step = self.variable("batch_stats", "drop_path_step", lambda: jnp.zeros((), jnp.int32))

    def __call__(self, x: jax.Array, train: bool = False) -> Any:
        r = self.resolution
        if r is not None and tuple(x.shape[1:3]) != (r, r):
            x = jax.image.resize(x, (x.shape[0], r, r, x.shape[3]), method="bilinear")
        if self.drop_path <= 0:
            return self.net(x, train=train)
        epoch = self.drop_path_step.value // self.steps_per_epoch
        rate = self.drop_path * epoch.astype(jnp.float32) / self.epochs
        if train and not self.is_initializing():
            self.drop_path_step.value = self.drop_path_step.value + 1
        return self.net(x, train=train, drop_path_rate=rate)


def as_space(space: str | Space) -> Space:
    """The registered space of a name, or ``space`` itself."""
    return get_space(space) if isinstance(space, str) else space


def evaluation_of(space: str | Space) -> Evaluation:
    """The space's from-scratch training record; ValueError if it has none."""
    sp = as_space(space)
    if sp.evaluation is None:
        raise ValueError(f"the {sp.name} space does not support training a found architecture from scratch")
    return sp.evaluation


def build_fixed_network(space: str | Space, arch: Any, *, num_classes: int, options: NetOptions,
                        steps_per_epoch: int = 1, epochs: int = 1) -> tuple[EvalNetwork, dict[str, Any]]:
    """``(EvalNetwork, net config dict)`` of ``arch`` (as the space's ``evaluation.parse`` returns it).

    ``steps_per_epoch`` and ``epochs`` time a linear drop-path schedule (unused otherwise).
    """
    sp = as_space(space)
    plan = evaluation_of(sp).plan(arch, options, int(num_classes))
    net = sp.network(arch, **plan.kwargs)
    if plan.drop_path_ramp > 0:
        model = EvalNetwork(net, plan.resolution, plan.drop_path_ramp, max(int(steps_per_epoch), 1),
                            max(int(epochs), 1))
    else:
        model = EvalNetwork(net, plan.resolution)
    return model, dict(plan.config)


def init_variables_shape(model: nn.Module, image_size: int) -> Any:
    """Abstract (shape-only) variables of ``model`` for one image of ``image_size`` px: no compile, no FLOPs."""
    x = jax.ShapeDtypeStruct((1, image_size, image_size, 3), jnp.float32)
    rngs = {"params": jax.random.key(0), "dropout": jax.random.key(1)}
    return jax.eval_shape(lambda inp: model.init(rngs, inp, train=False), x)


def model_counts(model: nn.Module, image_size: int) -> dict[str, int]:
    """Params and conv+linear MACs of the INSTANTIATED network (abstract evaluation, nothing compiled).

    ``params`` excludes a DARTS auxiliary head (DARTS' own count), ``params_total`` includes it.
    MACs are counted by intercepting every ``nn.Conv`` / ``nn.Dense`` call of an inference pass:
    ``k_h*k_w*C_in/groups*C_out*H_out*W_out`` and ``in*out`` (the aux head does not run at inference).
    """
    variables = init_variables_shape(model, image_size)
    sizes = {}
    for path, leaf in jax.tree_util.tree_flatten_with_path(variables["params"])[0]:
        sizes[jax.tree_util.keystr(path)] = int(np.prod(leaf.shape))
    total = sum(sizes.values())
    aux = sum(v for k, v in sizes.items() if "auxiliary_head" in k)
    macs = [0]

    def count(next_fun, args, kwargs, context):
        out = next_fun(*args, **kwargs)
        mdl = context.module
        if context.method_name == "__call__" and isinstance(mdl, nn.Conv):
            k = int(np.prod(mdl.kernel_size))
            c_in = int(args[0].shape[-1])
            macs[0] += k * c_in // mdl.feature_group_count * int(np.prod(out.shape[1:]))
        elif context.method_name == "__call__" and isinstance(mdl, nn.Dense):
            macs[0] += int(args[0].shape[-1]) * int(mdl.features)
        return out

    def forward(v, x):
        with nn.intercept_methods(count):
            return model.apply(v, x, train=False)

    jax.eval_shape(forward, variables, jax.ShapeDtypeStruct((1, image_size, image_size, 3), jnp.float32))
    return {"params": total - aux, "params_total": total, "macs": macs[0]}


def costs(space: str | Space, arch: Any, model: nn.Module, net_config: Mapping[str, Any],
          image_size: int) -> dict[str, Any]:
    """``{"analytic", "model", "match"}``: the space's analytic counts vs the instantiated network's.

    ``match`` is None when the analytic counter does not cover this network (e.g. a reduced size).
    """
    analytic = evaluation_of(space).counts(arch, net_config, image_size)
    counted = model_counts(model, image_size)
    match = None
    if analytic.get("params") is not None:
        match = analytic["params"] == counted["params"] and analytic["macs"] == counted["macs"]
    return {"analytic": analytic, "model": counted, "match": match}
