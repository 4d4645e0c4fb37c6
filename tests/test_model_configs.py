"""The models' shared pieces and config dataclasses: the LightGCN readout by hand, modality
resolution, config validation, hparams() unchanged from before the configs, build_model's errors,
and that ``.to()`` moves every tensor a model owns."""

from __future__ import annotations

import inspect
import math

import numpy as np
import pytest
import scipy.sparse as sp
import torch

from mmrs.data import synthetic_interactions
from mmrs.graph import lightgcn_readout, normalized_adjacency, propagate
from mmrs.models import (
    BM3,
    BPR,
    BUIR,
    FREEDOM,
    LATTICE,
    MODEL_CONFIGS,
    MODELS,
    VBPR,
    BM3Config,
    BPRConfig,
    FREEDOMConfig,
    ItemKNN,
    LightGCN,
    LightGCNConfig,
    MostPop,
    MostPopConfig,
    VBPRConfig,
    build_model,
    model_config_fields,
    resolve_modalities,
)

torch.set_num_threads(1)
pytestmark = pytest.mark.filterwarnings("ignore:Sparse CSR tensor support is in beta")

SQ2 = math.sqrt(2.0)


# ------------------------------------------------------------------ readout by hand


def tiny_graph() -> sp.csr_matrix:
    """2 users, 2 items: u0-i0, u0-i1, u1-i1."""
    return sp.csr_matrix(np.array([[1, 1], [0, 1]], dtype=np.float32))


def test_readout_on_a_tiny_graph_by_hand():
    # degrees: u0 = 2, u1 = 1, i0 = 1, i1 = 2; Â_uv = 1/sqrt(d_u d_v):
    #   Â(u0,i0) = 1/√2, Â(u0,i1) = 1/2, Â(u1,i1) = 1/√2
    adj = normalized_adjacency(tiny_graph()).to(torch.float64)
    e_u = torch.tensor([[1.0], [2.0]], dtype=torch.float64)  # E_U, d = 1
    e_i = torch.tensor([[3.0], [4.0]], dtype=torch.float64)  # E_I
    # H^0 = [u0, u1, i0, i1] = [1, 2, 3, 4]
    # H^1: u0 = 3/√2 + 4/2 = 4.121320   u1 = 4/√2 = 2.828427
    #      i0 = 1/√2 = 0.707107         i1 = 1/2 + 2/√2 = 1.914214
    h1 = [3 / SQ2 + 2, 4 / SQ2, 1 / SQ2, 0.5 + 2 / SQ2]
    # H^2: u0 = H1_i0/√2 + H1_i1/2 = 0.5 + (0.5 + √2)/2 = 1.457107
    #      u1 = H1_i1/√2 = (0.5 + √2)/√2 = 1.353553
    #      i0 = H1_u0/√2 = (3/√2 + 2)/√2 = 1.5 + √2 = 2.914214
    #      i1 = H1_u0/2 + H1_u1/√2 = (3/√2 + 2)/2 + 2 = 4.060660
    h2 = [0.5 + (0.5 + SQ2) / 2, (0.5 + SQ2) / SQ2, 1.5 + SQ2, (3 / SQ2 + 2) / 2 + 2]
    layers = propagate(adj, torch.cat([e_u, e_i]), 2, symmetric=True)
    assert torch.allclose(layers[1].ravel(), torch.tensor(h1, dtype=torch.float64))
    assert torch.allclose(layers[2].ravel(), torch.tensor(h2, dtype=torch.float64))
    # L = 2: H = (H^0 + H^1 + H^2) / 3
    #   u0 = (1 + 4.121320 + 1.457107)/3 = 2.192809   u1 = (2 + 2.828427 + 1.353553)/3 = 2.060660
    #   i0 = (3 + 0.707107 + 2.914214)/3 = 2.207107   i1 = (4 + 1.914214 + 4.060660)/3 = 3.324958
    users, items = lightgcn_readout(adj, e_u, e_i, 2)
    expect = [(h0 + a + b) / 3 for h0, a, b in zip([1, 2, 3, 4], h1, h2, strict=True)]
    assert users.shape == (2, 1) and items.shape == (2, 1)
    assert torch.allclose(torch.cat([users, items]).ravel(), torch.tensor(expect, dtype=torch.float64))
    assert users[0, 0].item() == pytest.approx(2.192809, abs=1e-6)
    assert items[1, 0].item() == pytest.approx(3.324958, abs=1e-6)
    # L = 1: u0 = (1 + 4.121320)/2 = 2.560660; L = 0: the ego embeddings themselves
    users1, _ = lightgcn_readout(adj, e_u, e_i, 1)
    assert users1[0, 0].item() == pytest.approx((1 + 3 / SQ2 + 2) / 2)
    users0, items0 = lightgcn_readout(adj, e_u, e_i, 0)
    assert torch.equal(users0, e_u) and torch.equal(items0, e_i)


def test_readout_gradient_symmetric_trick_matches_autograd():
    adj = normalized_adjacency(tiny_graph()).to(torch.float64)
    grads = []
    for symmetric in (True, False):
        e_u = torch.tensor([[1.0, -1.0], [2.0, 0.5]], dtype=torch.float64, requires_grad=True)
        e_i = torch.tensor([[3.0, 1.0], [4.0, -2.0]], dtype=torch.float64, requires_grad=True)
        users, items = lightgcn_readout(adj, e_u, e_i, 2, symmetric=symmetric)
        (users.pow(2).sum() + (items * torch.arange(4.0).view(2, 2)).sum()).backward()
        grads.append((e_u.grad, e_i.grad))
    assert torch.allclose(grads[0][0], grads[1][0]) and torch.allclose(grads[0][1], grads[1][1])
    with pytest.raises(ValueError, match="n_layers"):
        propagate(adj, torch.zeros(4, 1, dtype=torch.float64), -1)


def test_models_use_the_shared_readout():
    data = synthetic_interactions(30, 20, seed=1)
    adj = normalized_adjacency(data.train)
    lgcn = LightGCN(data.train, embedding_dim=4, n_layers=2)
    users, items = lightgcn_readout(adj, lgcn.user_embedding, lgcn.item_embedding, 2)
    h_u, h_i = lgcn.forward()
    assert torch.equal(h_u, users) and torch.equal(h_i, items)
    bm3 = BM3(data.train, modalities=(), embedding_dim=4, feat_embed_dim=4, n_layers=1)
    users, items = lightgcn_readout(adj, bm3.user_embedding, bm3.item_embedding, 1)
    h_u, h_i = bm3.forward()
    assert torch.equal(h_u, users) and torch.equal(h_i, items + bm3.item_embedding)  # BM3's residual


# ------------------------------------------------------------------ modalities


def test_resolve_modalities():
    feats = {"text": np.zeros((2, 1)), "image": np.zeros((2, 1))}
    assert resolve_modalities(None, feats) == ("image", "text")
    assert resolve_modalities(None, feats, ("text", "image")) == ("text", "image")
    assert resolve_modalities(["text", "image", "text"], feats) == ("image", "text")
    assert resolve_modalities("text", feats) == ("text",)
    assert resolve_modalities(None, {"text": 0}) == ("text",)
    assert resolve_modalities((), feats) == ()
    assert resolve_modalities(None, None) == ()
    with pytest.raises(ValueError, match=r"modality 'image' requested .* features \['text'\]"):
        resolve_modalities(("image",), {"text": 0})
    with pytest.raises(ValueError, match=r"unknown modality 'audio'; choose from \('image', 'text'\)"):
        resolve_modalities(("audio",), feats)
    with pytest.raises(ValueError, match="at least one feature modality"):
        resolve_modalities(None, {}, allow_empty=False)


# ------------------------------------------------------------------ config validation


@pytest.mark.parametrize(
    ("config", "field", "value"),
    [
        (BPRConfig, "embedding_dim", 0),
        (BPRConfig, "embedding_dim", 2.5),
        (BPRConfig, "embedding_dim", True),
        (BPRConfig, "reg_weight", -1e-4),
        (BPRConfig, "reg_weight", float("nan")),
        (BPRConfig, "squared_reg", "yes"),
        (LightGCNConfig, "embedding_dim", -3),
        (LightGCNConfig, "n_layers", -1),
        (LightGCNConfig, "reg_weight", -1.0),
        (LightGCNConfig, "squared_reg", None),
        (BM3Config, "modalities", ("audio",)),
        (BM3Config, "embedding_dim", 0),
        (BM3Config, "feat_embed_dim", 32),  # must equal embedding_dim (shared predictor)
        (BM3Config, "n_layers", -2),
        (BM3Config, "dropout", 1.0),
        (BM3Config, "dropout", -0.1),
        (BM3Config, "reg_weight", -0.1),
        (BM3Config, "cl_weight", -2.0),
        (BM3Config, "use_inter", "no"),
        (BM3Config, "use_intra", None),
        (BM3Config, "collapse_variant", "no_such"),
        (VBPRConfig, "modalities", ()),
        (VBPRConfig, "modalities", ("text", "audio")),
        (VBPRConfig, "embedding_dim", 0),
        (VBPRConfig, "reg_weight", -1.0),
        (FREEDOMConfig, "modalities", ()),
        (FREEDOMConfig, "embedding_dim", 0),
        (FREEDOMConfig, "feat_embed_dim", 16),
        (FREEDOMConfig, "knn_k", 0),
        (FREEDOMConfig, "mm_image_weight", 1.5),
        (FREEDOMConfig, "n_mm_layers", -1),
        (FREEDOMConfig, "n_ui_layers", -1),
        (FREEDOMConfig, "dropout", 1.0),
        (FREEDOMConfig, "reg_weight", -1e-4),
    ],
)
def test_config_rejects_bad_values(config, field, value):
    with pytest.raises(ValueError, match=rf"^{field} must ") as err:
        config(**{field: value})
    assert str(err.value).endswith(f"got {value!r}")  # the field, the allowed range, the bad value


def test_config_messages_name_the_allowed_range():
    with pytest.raises(ValueError, match=r"dropout must be a number in \[0, 1\), got 1\.0"):
        BM3Config(dropout=1.0)
    with pytest.raises(ValueError, match="n_layers must be an integer >= 0, got -1"):
        LightGCNConfig(n_layers=-1)
    with pytest.raises(ValueError, match=r"mm_image_weight must be a number in \[0, 1\], got 1\.5"):
        FREEDOMConfig(mm_image_weight=1.5)
    with pytest.raises(ValueError, match="n_layers must be an integer >= 0"):  # constructors too
        LightGCN(tiny_graph(), n_layers=-1)


def test_configs_coerce_and_are_frozen():
    cfg = LightGCNConfig(embedding_dim=np.int64(8), n_layers=3.0, reg_weight=0)
    assert (cfg.embedding_dim, cfg.n_layers, cfg.reg_weight) == (8, 3, 0.0)
    assert type(cfg.embedding_dim) is int and type(cfg.reg_weight) is float
    assert BM3Config(modalities=["text"]).modalities == ("text",)
    with pytest.raises(AttributeError):
        cfg.n_layers = 1  # type: ignore[misc]


def test_model_configs_match_models_and_constructor_defaults():
    assert list(MODEL_CONFIGS) == list(MODELS)
    assert model_config_fields("pop") == {}
    assert model_config_fields("lightgcn") == {
        "embedding_dim": 64, "n_layers": 2, "reg_weight": 1e-4, "squared_reg": False,
    }
    classes = {"pop": MostPop, "bpr": BPR, "lightgcn": LightGCN, "bm3": BM3, "vbpr": VBPR, "freedom": FREEDOM,
               "itemknn": ItemKNN, "lattice": LATTICE, "buir": BUIR}
    for name, cls in classes.items():
        params = inspect.signature(cls.__init__).parameters
        fields = model_config_fields(name)
        assert {k: params[k].default for k in fields} == fields, name  # one set of defaults
    with pytest.raises(ValueError, match="Unknown model 'nope'"):
        model_config_fields("nope")


# ------------------------------------------------------------------ hparams as before


@pytest.fixture(scope="module")
def data():
    data = synthetic_interactions(40, 30, seed=2)
    rng = np.random.default_rng(0)
    data.features = {"text": rng.normal(size=(30, 5)).astype("f4"), "image": rng.normal(size=(30, 3)).astype("f4")}
    return data


# The dicts below were produced by hparams() before the config dataclasses existed.
BEFORE = {
    ("pop", ()): {},
    ("bpr", ()): {"embedding_dim": 64, "reg_weight": 0.0001, "squared_reg": False},
    ("lightgcn", ()): {"embedding_dim": 64, "n_layers": 2, "reg_weight": 0.0001, "squared_reg": False},
    ("lightgcn", (("n_layers", 3), ("squared_reg", True))): {
        "embedding_dim": 64, "n_layers": 3, "reg_weight": 0.0001, "squared_reg": True,
    },
    ("bm3", (("modalities", ()),)): {
        "modalities": [], "embedding_dim": 64, "feat_embed_dim": 64, "n_layers": 1, "dropout": 0.5,
        "reg_weight": 0.1, "cl_weight": 2.0, "use_inter": True, "use_intra": True, "collapse_variant": None,
    },
    ("bm3", ()): {
        "modalities": ["image", "text"], "embedding_dim": 64, "feat_embed_dim": 64, "n_layers": 1,
        "dropout": 0.5, "reg_weight": 0.1, "cl_weight": 2.0, "use_inter": True, "use_intra": True,
        "collapse_variant": None,
    },
    ("bm3", (("n_layers", 2), ("dropout", 0.3))): {
        "modalities": ["image", "text"], "embedding_dim": 64, "feat_embed_dim": 64, "n_layers": 2,
        "dropout": 0.3, "reg_weight": 0.1, "cl_weight": 2.0, "use_inter": True, "use_intra": True,
        "collapse_variant": None,
    },
    ("vbpr", ()): {"modalities": ["text", "image"], "embedding_dim": 64, "reg_weight": 0.0001},
    ("vbpr", (("modalities", ("text",)),)): {"modalities": ["text"], "embedding_dim": 64, "reg_weight": 0.0001},
    ("freedom", ()): {
        "modalities": ["image", "text"], "embedding_dim": 64, "feat_embed_dim": 64, "knn_k": 10,
        "mm_image_weight": 0.1, "n_mm_layers": 1, "n_ui_layers": 2, "dropout": 0.8, "reg_weight": 0.0001,
    },
    ("freedom", (("modalities", ("image",)), ("dropout", 0.0))): {
        "modalities": ["image"], "embedding_dim": 64, "feat_embed_dim": 64, "knn_k": 10,
        "mm_image_weight": 0.1, "n_mm_layers": 1, "n_ui_layers": 2, "dropout": 0.0, "reg_weight": 0.0001,
    },
}


@pytest.mark.parametrize(("name", "settings"), list(BEFORE))
def test_hparams_unchanged(data, name, settings):
    model = build_model(name, data, **dict(settings))
    hp = model.hparams()
    assert hp == BEFORE[name, settings]
    assert list(hp) == list(BEFORE[name, settings])  # same key order
    assert all(type(hp[k]) is type(v) for k, v in BEFORE[name, settings].items())  # 0.1 stays a float, lists stay lists


def test_config_argument_and_attributes(data):
    cfg = BM3Config(n_layers=2, dropout=0.3)
    a = BM3(data.train, data.features, config=cfg)
    b = BM3(data.train, data.features, n_layers=2, dropout=0.3)
    assert a.config == b.config and a.hparams() == b.hparams()
    assert a.config.modalities == ("image", "text")  # the resolved modalities
    with pytest.raises(ValueError, match=r"\['dropout'\] either as keyword arguments or in config="):
        BM3(data.train, data.features, dropout=0.1, config=cfg)
    with pytest.raises(TypeError, match="BM3Config"):
        BM3(data.train, data.features, config=LightGCNConfig())
    a.dropout = 0.4  # a setting that may change after construction: the config follows
    assert a.config.dropout == 0.4 and a.hparams()["dropout"] == 0.4
    with pytest.raises(ValueError, match="dropout"):
        a.dropout = 1.0
    with pytest.raises(AttributeError, match="fixed at construction"):
        a.embedding_dim = 32
    assert isinstance(MostPop(data.train).config, MostPopConfig)


# ------------------------------------------------------------------ build_model errors


def test_build_model_rejects_unknown_keys_and_names(data):
    with pytest.raises(
        ValueError, match=r"\['n_layers'\] for model 'bpr'; valid keys: \['embedding_dim', 'reg_weight', 'squared_reg'\]"
    ):
        build_model("bpr", data, n_layers=2)
    with pytest.raises(ValueError, match=r"\['dropot'\] for model 'bm3'; valid keys: \['modalities', 'embedding_dim'"):
        build_model("bm3", data, dropot=0.3)
    with pytest.raises(ValueError, match="'pop'; valid keys: none"):
        build_model("pop", data, embedding_dim=8)
    with pytest.raises(ValueError, match=r"Unknown model 'mf'; choose one of \('pop', 'bpr'"):
        build_model("mf", data)
    with pytest.raises(ValueError, match="reg_weight must be a number >= 0"):
        build_model("lightgcn", data, reg_weight=-1.0)
    # None values still fall through to the defaults
    assert build_model("lightgcn", data, n_layers=None, embedding_dim=8).hparams()["n_layers"] == 2


# ------------------------------------------------------------------ .to() moves everything


def _all_tensors(model: torch.nn.Module) -> list[torch.Tensor]:
    return [*model.parameters(), *(b for b in model.buffers() if b is not None)]


@pytest.mark.parametrize("name", MODELS)
def test_to_moves_every_tensor(data, name):
    small = {"pop": {}, "bpr": {"embedding_dim": 4}, "lightgcn": {"embedding_dim": 4}, "itemknn": {},
             "buir": {"embedding_dim": 4}, "mmgcn": {"embedding_dim": 4, "image_latent_dim": 4},
             "grcn": {"embedding_dim": 4, "latent_dim": 4}, "dualgnn": {"embedding_dim": 4}}
    hp = small.get(name, {"embedding_dim": 4, **({} if name == "vbpr" else {"feat_embed_dim": 4})})
    model = build_model(name, data, **hp)
    if name == "freedom":
        model.pre_epoch()  # the pruned graph is a buffer too
    # no tensor hides in a plain attribute: all are parameters or buffers
    plain = [k for k, v in vars(model).items() if isinstance(v, torch.Tensor)]
    assert plain == []
    users, pos, neg = torch.tensor([0, 1, 2]), torch.tensor([0, 1, 2]), torch.tensor([3, 4, 5])
    model.eval()
    scores32 = model.score_users(users)
    model.to(torch.float64)
    assert model._cache is None  # moving drops the evaluation cache
    assert all(t.dtype == torch.float64 for t in _all_tensors(model) if t.is_floating_point())
    if name == "freedom":
        model.masked_adj = None
        model.pre_epoch()  # re-sampled on the model's device and dtype
        assert model.masked_adj.dtype == torch.float64
    scores64 = model.score_users(users)
    assert scores64.dtype == torch.float64
    assert torch.allclose(scores64.float(), scores32, atol=1e-4)
    model.train()
    torch.manual_seed(0)
    loss = model.calculate_loss(users, pos, neg)
    if model.trainable:
        assert loss.dtype == torch.float64
        loss.backward()
    model.to("meta")
    assert all(t.device.type == "meta" for t in _all_tensors(model))
