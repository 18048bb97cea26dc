"""The official PyTorch and HuggingFace layouts: exact keys and shapes, files, and refusals."""

import json
import os

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest
import safetensors.numpy

from hawkzoo import checkpoints
from hawkzoo.model import LanguageModel

from ..official import small_config

CONFIG = small_config("griffin")  # D=32, L=48, H=2, MLP 96, blocks R, R, A
D, L, E = CONFIG.width, CONFIG.lru_width, CONFIG.mlp_width


@pytest.fixture(scope="module")
def model() -> LanguageModel:
    return LanguageModel(CONFIG, key=jax.random.key(0))


def test_torch_keys_and_shapes_are_the_official_layout(model):
    state = checkpoints.to_torch(model)
    flax = checkpoints.to_flax(model)
    assert state["embedder.input_embedding"].shape == (64, D)
    assert state["blocks.0.recurrent_block.linear_x.weight"].shape == (L, D)  # [out, in]
    np.testing.assert_array_equal(
        state["blocks.0.recurrent_block.linear_out.weight"],
        flax["blocks.0"]["recurrent_block"]["linear_out"]["kernel"].T,
    )
    assert state["blocks.0.recurrent_block.conv_1d.w"].shape == (4, L)
    assert state["blocks.1.recurrent_block.rg_lru.a_gate.w"].shape == (2, L // 2, L // 2)
    assert state["blocks.2.mlp_block.ffw_up.w"].shape == (2, D, E)
    assert state["blocks.2.mlp_block.ffw_up.b"].shape == (2, 1, 1, E)
    assert state["blocks.2.mlp_block.ffw_down.weight"].shape == (D, E)
    assert state["blocks.2.attention_block.proj_k.weight"].shape == (D // 2, D)
    assert "blocks.2.attention_block.proj_q.bias" not in state
    assert len(state) == len(jax.tree.leaves(flax))


def test_huggingface_keys_and_layouts_follow_the_conversion_script(model):
    state, hf_config = checkpoints.to_huggingface(model)
    torch_state = checkpoints.to_torch(model)
    conv = torch_state["blocks.0.recurrent_block.conv_1d.w"]  # [width, channels]
    hf_conv = state["model.layers.0.temporal_block.conv_1d.weight"]
    assert hf_conv.shape == (L, 1, 4) and hf_conv[5, 0, 3] == conv[3, 5]
    up = torch_state["blocks.2.mlp_block.ffw_up.w"]
    np.testing.assert_array_equal(state["model.layers.2.mlp_block.gate_proj.weight"], up[0].T)
    np.testing.assert_array_equal(state["model.layers.2.mlp_block.up_proj.weight"], up[1].T)
    np.testing.assert_array_equal(
        state["model.layers.2.mlp_block.up_proj.bias"],
        torch_state["blocks.2.mlp_block.ffw_up.b"][1, 0, 0],
    )
    for key in [
        "model.layers.1.temporal_block.rg_lru.recurrent_param",
        "model.layers.1.temporal_block.rg_lru.recurrent_gate_weight",
        "model.layers.1.temporal_block.rg_lru.input_gate_bias",
        "model.layers.2.temporal_block.o_proj.bias",
        "model.layers.2.mlp_block.down_proj.weight",
        "model.layers.0.temporal_pre_norm.weight",
        "model.final_norm.weight",
    ]:
        assert key in state, key
    np.testing.assert_array_equal(state["lm_head.weight"], state["model.embed_tokens.weight"])
    assert hf_config["intermediate_size"] == 2 * E and hf_config["num_key_value_heads"] == 1


def test_official_torch_weights_load_from_safetensors_npz_and_a_params_prefix(model, tmp_path):
    state = checkpoints.to_torch(model)
    safetensors.numpy.save_file(state, tmp_path / "griffin.safetensors")
    np.savez(tmp_path / "griffin.npz", **state)  # pyright: ignore[reportArgumentType]
    for file in ["griffin.safetensors", "griffin.npz"]:
        assert eqx.tree_equal(checkpoints.load(tmp_path / file, CONFIG), model)
    prefixed = {f"params.{key}": value for key, value in state.items()}
    assert eqx.tree_equal(checkpoints.from_torch(prefixed, CONFIG), model)


def test_a_huggingface_folder_loads_with_its_config_from_sharded_files(model, tmp_path):
    state, hf_config = checkpoints.to_huggingface(model)
    keys = sorted(state)
    safetensors.numpy.save_file({k: state[k] for k in keys[::2]}, tmp_path / "model-1.safetensors")
    safetensors.numpy.save_file({k: state[k] for k in keys[1::2]}, tmp_path / "model-2.safetensors")
    (tmp_path / "config.json").write_text(json.dumps(hf_config))
    loaded = checkpoints.load(tmp_path)
    assert loaded.config == CONFIG and eqx.tree_equal(loaded, model)


@pytest.mark.parametrize(
    "change, message",
    [
        (dict(num_key_value_heads=4), "num_key_value_heads=4; hawkzoo implements"),
        (dict(hidden_activation="silu"), "hidden_activation='silu'"),
    ],
)
def test_a_huggingface_config_hawkzoo_cannot_run_is_refused(model, change, message):
    state, hf_config = checkpoints.to_huggingface(model)
    with pytest.raises(ValueError, match=message):
        checkpoints.from_huggingface(state, hf_config | change)


def test_unreadable_weights_files_are_refused_with_the_reason(tmp_path):
    (tmp_path / "junk.safetensors").write_bytes(b"\x00" * 20)
    with pytest.raises(ValueError, match="is not a readable weights file"):
        checkpoints.load(tmp_path / "junk.safetensors")
    (tmp_path / "weights.h5").write_bytes(b"")
    with pytest.raises(ValueError, match="unknown weights file type"):
        checkpoints.load(tmp_path / "weights.h5")


def test_torch_files_load_when_torch_is_installed(model, tmp_path):
    torch = pytest.importorskip("torch")
    state = {key: torch.from_numpy(value) for key, value in checkpoints.to_torch(model).items()}
    torch.save(state, tmp_path / "griffin.pt")
    assert eqx.tree_equal(checkpoints.load(tmp_path / "griffin.pt", CONFIG), model)


RELEASED = os.environ.get("HAWKZOO_RECURRENTGEMMA_2B")


@pytest.mark.skipif(
    not RELEASED,
    reason="set HAWKZOO_RECURRENTGEMMA_2B to a folder with the released 2B Flax checkpoint "
    "(2b/) and tokenizer.model",
)
def test_released_recurrentgemma_2b_gives_the_official_logits_on_real_text():
    from recurrentgemma import jax as official

    from hawkzoo.tokenizers import SentencePieceTokenizer

    assert RELEASED is not None
    folder = RELEASED
    tokenizer = SentencePieceTokenizer(os.path.join(folder, "tokenizer.model"))
    model = checkpoints.load(os.path.join(folder, "2b"))
    ids = tokenizer.encode("The capital of France is Paris. The capital of Italy is")
    tokens, positions = jnp.asarray(ids)[None], jnp.arange(len(ids))[None]
    params = checkpoints.to_flax(model)
    official_config = official.GriffinConfig.from_flax_params_or_variables(
        params, preset=official.Preset.RECURRENT_GEMMA_2B_V1
    )
    with jax.numpy_rank_promotion("allow"):
        expected, _ = official.Griffin(official_config).apply({"params": params}, tokens, positions)
    logits, _ = model(tokens[0], positions[0])
    scale = float(jnp.abs(expected).max())
    np.testing.assert_allclose(logits, expected[0], atol=2e-2 * scale)
    assert (jnp.argmax(logits, -1) == jnp.argmax(expected[0], -1)).mean() > 0.95
