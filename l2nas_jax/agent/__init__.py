"""The L2NAS agent: actor, quantile critic, replay, schedules and the search loop."""

from l2nas_jax.agent.losses import quantile_loss
from l2nas_jax.agent.search import L2NASConfig, make_l2nas

__all__ = ["L2NASConfig", "make_l2nas", "quantile_loss"]
