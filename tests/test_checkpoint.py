import pytest
import torch

from mlvgm.checkpoint import load_model, load_state, read_metadata, save_model, save_state
from mlvgm.errors import CheckpointError
from mlvgm.models import HierarchicalVAE


class Evil:
    """Stands for any object whose unpickling could run code."""


def test_model_round_trips_with_its_architecture(tmp_path, tiny_hvae, images):
    path = tmp_path / "m.safetensors"
    save_model(path, tiny_hvae, data="test")
    assert read_metadata(path)["mlvgm.architecture"] == "hvae"
    loaded = load_model(path, expect="hvae")
    assert isinstance(loaded, HierarchicalVAE)
    torch.testing.assert_close(loaded.encode(images)[0], tiny_hvae.encode(images)[0])


def test_loading_a_checkpoint_of_another_architecture_raises(tmp_path, tiny_classifier):
    path = tmp_path / "c.safetensors"
    save_model(path, tiny_classifier)
    with pytest.raises(CheckpointError, match="'resnet' model, but a 'hvae'"):
        load_model(path, expect="hvae")


def test_missing_and_corrupt_checkpoints_raise(tmp_path):
    with pytest.raises(CheckpointError, match="not found"):
        load_model(tmp_path / "nope.safetensors")
    bad = tmp_path / "bad.safetensors"
    bad.write_bytes(b"this is not a checkpoint")
    with pytest.raises(CheckpointError, match="not a readable"):
        load_model(bad)


def test_weights_that_do_not_fit_the_stored_config_raise(tmp_path, tiny_hvae):
    from safetensors.torch import load_file, save_file

    from mlvgm.checkpoint import read_metadata as meta

    path = tmp_path / "m.safetensors"
    save_model(path, tiny_hvae)
    tensors = load_file(str(path))
    tensors.pop("stem.weight")
    save_file(tensors, str(path), metadata=meta(path))
    with pytest.raises(CheckpointError, match="does not match"):
        load_model(path)


def test_state_loads_with_weights_only_and_rejects_pickled_objects(tmp_path):
    path = tmp_path / "state.pt"
    save_state(path, {"epoch": 3, "w": torch.ones(2)})
    assert load_state(path)["epoch"] == 3
    torch.save({"x": Evil()}, tmp_path / "evil.pt")
    with pytest.raises(CheckpointError, match="cannot resume"):
        load_state(tmp_path / "evil.pt")


def test_non_finite_weights_are_refused(tmp_path, tiny_hvae):
    with torch.no_grad():
        tiny_hvae.head.weight[0, 0, 0, 0] = float("nan")
    path = tmp_path / "nan.safetensors"
    save_model(path, tiny_hvae)
    with pytest.raises(CheckpointError, match=r"non-finite weights .* e\.g\. head\.weight"):
        load_model(path)
