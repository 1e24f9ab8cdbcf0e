"""The L2NAS agent: actor, quantile critic, replay, schedules, the search loop and its extensions.

Public surface used by the layers above (experiments reach L2NAS only through these):
the config and searcher factory, the traceable hyper-parameters (sweeps) and the
hand-over of a trained agent to a new environment (transfer).
"""

from l2nas_jax.agent.hyperparams import TRACEABLE, HyperParams, hyperparams_of, with_values
from l2nas_jax.agent.losses import quantile_loss
from l2nas_jax.agent.search import LITERAL_PAPER_CONFIG, L2NASConfig, L2NASState, make_l2nas
from l2nas_jax.agent.transfer import handover, replay_carry, target_config

__all__ = [
    "TRACEABLE", "HyperParams", "L2NASConfig", "L2NASState", "LITERAL_PAPER_CONFIG", "handover", "hyperparams_of",
    "make_l2nas", "quantile_loss", "replay_carry", "target_config", "with_values",
]
