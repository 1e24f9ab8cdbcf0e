"""A supernet run directory as an environment: the requested dataset must be the supernet's own.

Only ``supernet.json`` is written: the dataset is checked before any data or checkpoint is loaded.
"""

import json

import pytest

from l2nas_jax.api import build_env
from l2nas_jax.envs.supernet import load_supernet_env, read_supernet_meta


@pytest.fixture
def run_dir(tmp_path):
    meta = {"space": "nb201", "net": {"channels": 4, "layers": 1, "num_classes": 4},
            "dataset": {"name": "synthetic", "num_classes": 4, "image_size": 8, "train": 192, "heldout": 64},
            "train_config": {}, "seed": 0}
    (tmp_path / "supernet.json").write_text(json.dumps(meta))
    return tmp_path


def test_another_dataset_than_the_supernets_is_refused(run_dir):
    message = rf"^{run_dir} holds a supernet trained on synthetic, not cifar100: drop --dataset"
    with pytest.raises(ValueError, match=message):
        load_supernet_env(run_dir, dataset="cifar100")
    with pytest.raises(ValueError, match=message):
        build_env("nb201", "cifar100", supernet=run_dir)


def test_supernet_meta_is_read_and_checked(run_dir, tmp_path_factory):
    assert read_supernet_meta(run_dir)["dataset"]["name"] == "synthetic"
    bad = tmp_path_factory.mktemp("bad")
    (bad / "supernet.json").write_text(json.dumps({"space": "nb201", "net": {}, "train_config": {}, "dataset": {}}))
    with pytest.raises(ValueError, match="supernet.json is malformed"):
        read_supernet_meta(bad)
    with pytest.raises(ValueError, match="not a supernet run directory"):
        read_supernet_meta(tmp_path_factory.mktemp("empty"))
