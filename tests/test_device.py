"""One device setting, and everything follows it (CPU-only checks).

* ``mmrs.config.device_name``: argument, else ``$MMRS_DEVICE``, else ``cpu``; validated.
* Every model's tensors are parameters or buffers, so ``.to(torch.float64)`` (a stand-in for
  ``.to("cuda")``) moves all of them, and training and evaluation then run in float64.
* Results come back to the CPU before NumPy: :class:`OnDevice` is a CPU tensor whose ``.numpy()``
  fails until ``.cpu()`` (or ``.to("cpu")``) is called, as a CUDA tensor's does; it is fed through
  evaluation, retrieval, the cascade and feature extraction. An AST scan of ``src/mmrs`` checks
  that every other ``.numpy()`` call is ``.cpu().numpy()`` or on a tensor made from NumPy.
"""

from __future__ import annotations

import ast
import types
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import mmrs
from mmrs import config
from mmrs.data.synthetic import synthetic_interactions
from mmrs.devices import module_device, to_numpy
from mmrs.hierarchical.cascade import embed, flat_scores, routed_scores
from mmrs.hierarchical.latency import query_latency
from mmrs.hierarchical.router import CategoryRouter, train_router
from mmrs.metrics import evaluate_split, full_ranking_topk, rare_item_metrics, topk_scores
from mmrs.models import MODELS, build_model
from mmrs.retrieval.towers import LockedTowers
from mmrs.retrieval.train import pair_recall, train_towers
from mmrs.train import TrainConfig, resolve_device, train

NO_ACCELERATOR = not torch.cuda.is_available() and not (
    getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available()
)


@pytest.fixture(autouse=True)
def _no_device_env(monkeypatch):
    monkeypatch.delenv(config.DEVICE_ENV, raising=False)


# -- the setting ---------------------------------------------------------------------------


def test_device_name_precedence_and_validation(monkeypatch):
    assert config.device_name() == "cpu"  # the default: recorded numbers are CPU numbers
    monkeypatch.setenv(config.DEVICE_ENV, "auto")
    assert config.device_name() == "auto"
    assert config.device_name("cpu") == "cpu"  # the argument wins over the environment
    assert TrainConfig().device == "auto"  # the training config's default follows the setting
    monkeypatch.setenv(config.DEVICE_ENV, "gpu")
    with pytest.raises(ValueError) as info:
        config.device_name()
    assert "\n" not in str(info.value) and "MMRS_DEVICE" in str(info.value)
    assert "'gpu'" in str(info.value) and "'cuda'" in str(info.value)
    with pytest.raises(ValueError, match="'tpu'"):
        config.device_name("tpu")
    monkeypatch.setenv(config.DEVICE_ENV, "cpu")
    assert resolve_device(None) == torch.device("cpu")
    assert config.resolve_device(torch.device("cpu")) == torch.device("cpu")  # passed through
    assert config.DEVICES == ("auto", "cpu", "cuda", "mps")


@pytest.mark.skipif(not NO_ACCELERATOR, reason="this machine has an accelerator")
def test_auto_resolves_to_cpu_here(monkeypatch):
    assert resolve_device("auto") == torch.device("cpu")
    monkeypatch.setenv(config.DEVICE_ENV, "auto")
    assert resolve_device() == torch.device("cpu")
    with pytest.raises(RuntimeError, match="cuda"):
        config.resolve_device("cuda")


def test_config_does_not_import_torch():
    source = Path(config.__file__).read_text()
    top = [n for n in ast.parse(source).body if isinstance(n, ast.Import | ast.ImportFrom)]
    names = [a.name for n in top for a in n.names] + [getattr(n, "module", "") or "" for n in top]
    assert not any(name.split(".")[0] == "torch" for name in names)


# -- a CPU tensor that behaves like a device tensor towards NumPy ---------------------------


class OnDevice(torch.Tensor):
    """A CPU tensor standing in for an accelerator's: NumPy conversion fails until ``.cpu()``."""

    @classmethod
    def __torch_function__(cls, func, types_, args=(), kwargs=None):
        kwargs = kwargs or {}
        if func in (torch.Tensor.numpy, torch.Tensor.__array__):
            raise AssertionError(".numpy() on a tensor that was not brought to the CPU first")
        to_cpu = func is torch.Tensor.cpu or (
            func is torch.Tensor.to and any(str(a) == "cpu" for a in (*args[1:], *kwargs.values()))
        )
        if to_cpu:
            with torch._C.DisableTorchFunctionSubclass():
                return func(*args, **kwargs).as_subclass(torch.Tensor)
        return super().__torch_function__(func, types_, args, kwargs)


def test_on_device_stand_in_behaves():
    x = torch.arange(6.0).reshape(2, 3).as_subclass(OnDevice)
    with pytest.raises(AssertionError):
        x.numpy()
    with pytest.raises(AssertionError):
        np.asarray(x)
    with pytest.raises(AssertionError):
        torch.topk(x, 1).indices.numpy()
    assert type(x.detach().cpu()) is torch.Tensor
    np.testing.assert_array_equal(x.to("cpu").numpy(), np.arange(6.0).reshape(2, 3))
    np.testing.assert_array_equal(to_numpy(x), np.arange(6.0).reshape(2, 3))


# -- models: every tensor follows .to(), training and evaluation run in float64 ------------


def data_with_features(seed: int = 5):
    data = synthetic_interactions(120, 60, seed=seed)
    rng = np.random.default_rng(1)
    data.features = {"text": rng.normal(size=(60, 8)).astype("f4"),
                     "image": rng.normal(size=(60, 6)).astype("f4")}
    return data


SMALL = {"pop": {}, "bpr": {"embedding_dim": 8}, "lightgcn": {"embedding_dim": 8},
         "vbpr": {"embedding_dim": 8}, "bm3": {"embedding_dim": 8, "feat_embed_dim": 8},
         "freedom": {"embedding_dim": 8, "feat_embed_dim": 8}, "itemknn": {"knn_k": 3},
         "lattice": {"embedding_dim": 8, "feat_embed_dim": 8, "knn_k": 3}, "buir": {"embedding_dim": 8},
         "mmgcn": {"embedding_dim": 8, "image_latent_dim": 8},
         "grcn": {"embedding_dim": 8, "latent_dim": 8}, "dualgnn": {"embedding_dim": 8}}


@pytest.fixture(scope="module")
def data():
    return data_with_features()


def _tensors(model: torch.nn.Module) -> list[torch.Tensor]:
    return [*model.parameters(), *(b for b in model.buffers() if b is not None)]


def _unregistered(model: torch.nn.Module) -> list[str]:
    """Tensors held as plain attributes (``.to()`` would leave them behind), in any submodule."""
    return [
        f"{prefix or type(model).__name__}.{key}"
        for prefix, module in model.named_modules()
        for key, value in vars(module).items()
        if isinstance(value, torch.Tensor)
        or (isinstance(value, tuple | list) and any(isinstance(v, torch.Tensor) for v in value)
            and key != "_cache")
    ]


def test_models_cover_the_registry():
    assert set(SMALL) == set(MODELS)


@pytest.mark.parametrize("name", MODELS)
def test_every_tensor_follows_to_and_training_runs_in_float64(data, name):
    model = build_model(name, data, **SMALL[name])
    if name == "freedom":
        model.pre_epoch()  # the pruned graph exists, and must be a buffer too
    assert _unregistered(model) == []
    model.to(torch.float64)
    assert _unregistered(model) == []
    floats = [t for t in _tensors(model) if t.is_floating_point()]
    assert floats and all(t.dtype == torch.float64 for t in floats)
    dtypes: list[torch.dtype] = []
    original = model.calculate_loss

    def recording(*args):
        loss = original(*args)
        dtypes.append(loss.dtype)
        return loss

    model.calculate_loss = recording
    record = train(model, data, TrainConfig(max_epochs=2, batch_size=128, progress=False), seed=3)
    assert all(t.dtype == torch.float64 for t in _tensors(model) if t.is_floating_point())
    if model.trainable:
        assert dtypes and set(dtypes) == {torch.float64}
        assert all(p.grad is None or p.grad.dtype == torch.float64 for p in model.parameters())
    model.eval()
    model.prepare_eval()
    assert all(t.dtype == torch.float64 for t in model.eval_cache())
    assert model.score_users(torch.arange(3)).dtype == torch.float64
    assert all(np.isfinite(v) for v in record["metrics"]["test"].values())
    assert _unregistered(model) == []


@pytest.mark.parametrize("name", MODELS)
def test_float64_scores_give_the_float32_metrics(data, name):
    torch.manual_seed(0)
    model = build_model(name, data, **SMALL[name])
    train(model, data, TrainConfig(max_epochs=1, batch_size=128, progress=False), seed=1)
    m32 = evaluate_split(model, data, "test", ks=(5, 10, 20))
    model.to(torch.float64)
    m64 = evaluate_split(model, data, "test", ks=(5, 10, 20))
    assert m64 == pytest.approx(m32, abs=1e-9)


def test_mostpop_loss_follows_the_model():
    model = build_model("pop", synthetic_interactions(30, 20, seed=0)).to(torch.float64)
    assert model.calculate_loss(torch.tensor([0]), torch.tensor([0]), None).dtype == torch.float64


# -- evaluation: masking and top-k on the scores' device, ids back on the CPU --------------


class DeviceScores(torch.nn.Module):
    """A model whose scores come out as :class:`OnDevice` tensors (of the wrapped model's)."""

    def __init__(self, inner: torch.nn.Module) -> None:
        super().__init__()
        self.inner = inner

    def prepare_eval(self) -> None:
        self.inner.eval()
        self.inner.prepare_eval()

    def score_users(self, users: torch.Tensor) -> torch.Tensor:
        return self.inner.score_users(users).as_subclass(OnDevice)


def test_evaluation_brings_results_to_the_cpu_before_numpy(data):
    model = build_model("lightgcn", data, embedding_dim=8)
    plain = evaluate_split(model, data, "test", ks=(5, 20))
    assert evaluate_split(DeviceScores(model), data, "test", ks=(5, 20)) == plain
    assert evaluate_split(DeviceScores(model).inner.score_users, data, "test", ks=(5, 20)) == plain
    for candidates in ("all", "rare"):
        assert rare_item_metrics(DeviceScores(model), data, candidates=candidates) == (
            rare_item_metrics(model, data, candidates=candidates)
        )
    scores = model.score_users(torch.arange(4)).detach()
    expect = topk_scores(scores.clone(), 5, data.train[:4])
    np.testing.assert_array_equal(topk_scores(scores.clone().as_subclass(OnDevice), 5, data.train[:4]), expect)
    top = full_ranking_topk(lambda u: model.score_users(u).as_subclass(OnDevice), data.n_users, 5, data.train)
    assert top.dtype == np.int64 and top.shape == (data.n_users, 5)


def test_score_fn_gets_user_ids_on_the_model_device(data):
    model = build_model("bpr", data, embedding_dim=4)
    assert module_device(model) == torch.device("cpu")
    assert module_device(build_model("pop", data)) == torch.device("cpu")  # a buffer only
    assert module_device(torch.nn.Identity()) is None and module_device(object()) is None


# -- retrieval and the cascade --------------------------------------------------------------


class DeviceTowers(LockedTowers):
    def encode_image(self, x):
        return super().encode_image(x).as_subclass(OnDevice)

    def encode_text(self, t):
        return super().encode_text(t).as_subclass(OnDevice)


class DeviceRouter(CategoryRouter):
    def forward(self, t):
        return super().forward(t).as_subclass(OnDevice)


def test_cascade_and_retrieval_bring_results_to_the_cpu():
    rng = np.random.default_rng(0)
    image, text = rng.normal(size=(12, 6)).astype("f4"), rng.normal(size=(12, 5)).astype("f4")
    torch.manual_seed(0)
    towers = DeviceTowers(6, 5, dim=4, hidden=0)
    plain = LockedTowers(6, 5, dim=4, hidden=0)
    plain.load_state_dict(towers.state_dict())
    np.testing.assert_array_equal(embed(towers, image=image), embed(plain, image=image))
    np.testing.assert_array_equal(flat_scores(towers, text, image), flat_scores(plain, text, image))
    codes = np.arange(12) % 3
    routes = np.stack([codes, (codes + 1) % 3], axis=1)
    prior = np.log(np.full(routes.shape, 0.5))
    np.testing.assert_array_equal(
        routed_scores(towers, {1: towers}, text, image, codes, routes, prior),
        routed_scores(plain, {1: plain}, text, image, codes, routes, prior),
    )
    assert pair_recall(towers, image, text, k=3) == pair_recall(plain, image, text, k=3)
    router = DeviceRouter(5, 3)
    proba = router.predict_proba(text)
    assert isinstance(proba, np.ndarray) and np.allclose(proba.sum(axis=1), 1.0)
    top, logp = router.top_m(text, 2)
    assert top.shape == logp.shape == (12, 2)
    level = types.SimpleNamespace(codes=codes, router=router, heads={1: towers})
    latency = query_latency(towers, level, text, image, k=3, n_queries=4, repeats=1)
    assert set(latency) == {"flat", "flat | predicted", "cascade | predicted"}


def test_training_on_the_cpu_device_is_the_default():
    rng = np.random.default_rng(1)
    image, text = rng.normal(size=(20, 6)).astype("f4"), rng.normal(size=(20, 5)).astype("f4")
    kw = {"epochs": 2, "seed": 4, "batch_size": 8, "dim": 4, "hidden": 8, "progress": False}
    a, log_a = train_towers(image, text, **kw)
    b, log_b = train_towers(image, text, device="cpu", **kw)
    assert log_a.loss == log_b.loss and module_device(b) == torch.device("cpu")
    for x, y in zip(a.state_dict().values(), b.state_dict().values(), strict=True):
        assert torch.equal(x, y)
    labels = np.arange(20) % 3
    r1 = train_router(text, labels, 3, epochs=5, seed=0)
    r2 = train_router(text, labels, 3, epochs=5, seed=0, device=torch.device("cpu"))
    np.testing.assert_array_equal(r1.predict_proba(text), r2.predict_proba(text))


# -- feature extraction ---------------------------------------------------------------------


def test_image_features_run_on_the_device_and_come_back(monkeypatch):
    from mmrs.features import image as image_mod

    asked: list[str] = []

    class Encoder(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.scale = torch.nn.Parameter(torch.ones(()))

        def forward_features(self, x):
            return (x.mean(dim=(2, 3)) * self.scale).as_subclass(OnDevice)

        def forward_head(self, f, pre_logits):
            assert pre_logits
            return f.repeat(1, image_mod.IMAGE_DIM // 3 + 1)[:, : image_mod.IMAGE_DIM]

    def fake_load(device: str):
        asked.append(device)
        return Encoder().to(device)

    monkeypatch.setattr(image_mod, "_load_image_model", fake_load)
    photos = [Image.new("RGB", (8, 8), (255 * (k % 2), 0, 0)) for k in range(3)]
    out = image_mod.image_embeddings(photos, batch_size=2, progress=False)
    assert out.shape == (3, image_mod.IMAGE_DIM) and out.dtype == np.float32
    assert not np.allclose(out[0], out[1])
    monkeypatch.setenv(config.DEVICE_ENV, "auto" if NO_ACCELERATOR else "cpu")
    np.testing.assert_array_equal(image_mod.image_embeddings(photos, progress=False), out)
    np.testing.assert_array_equal(
        image_mod.image_embeddings(photos, progress=False, device="cpu"), out
    )
    assert asked == ["cpu", "cpu", "cpu"]


def test_text_features_load_minilm_on_the_device(monkeypatch, tmp_path):
    from mmrs.features import cache as cache_mod
    from mmrs.features import text as text_mod

    asked: list[str] = []

    class MiniLM:
        def encode(self, texts, **kwargs):
            assert kwargs["convert_to_numpy"] is True  # sentence-transformers returns CPU NumPy
            return np.ones((len(texts), text_mod.TEXT_DIM), dtype=np.float32)

    def fake_load(device: str):
        asked.append(device)
        return MiniLM()

    monkeypatch.setattr(text_mod, "_load_text_model", fake_load)
    monkeypatch.setenv(cache_mod.CACHE_ENV, str(tmp_path))
    ids = ["a", "b"]
    first = cache_mod.cached_features(
        text_mod.TEXT_ENCODER, "titles", ids,
        lambda t: text_mod.text_embeddings(list(t), progress=False, device="cpu"), progress=False,
    )
    assert asked == ["cpu"] and first.shape == (2, text_mod.TEXT_DIM)
    # the cache key has no device: another device setting reads the same file
    monkeypatch.setenv(config.DEVICE_ENV, "auto")
    again = cache_mod.cached_features(
        text_mod.TEXT_ENCODER, "titles", ids, lambda t: pytest.fail("recomputed"), progress=False
    )
    np.testing.assert_array_equal(first, again)
    text_mod.text_embeddings(["x"], progress=False)
    assert asked == ["cpu", str(resolve_device("auto"))]


# -- entry points ---------------------------------------------------------------------------

ENTRY_POINTS = {
    "bm3": [],
    "feature_models": ["--model", "bpr"],
    "hierarchical": [],
    "matching": ["--dataset", "abt-buy"],
}


@pytest.mark.parametrize("name", ENTRY_POINTS)
def test_every_entry_point_takes_device(name, tmp_path, capsys, monkeypatch):
    import importlib

    module = importlib.import_module(f"mmrs.experiments.{name}")
    parser = module.parser()
    action = next(a for a in parser._actions if "--device" in a.option_strings)
    assert tuple(action.choices) == config.DEVICES and action.default is None
    argv = [*ENTRY_POINTS[name], "--out", str(tmp_path / "x.json")]
    assert parser.parse_args([*argv, "--device", "auto"]).device == "auto"
    with pytest.raises(SystemExit) as info:
        parser.parse_args([*argv, "--device", "tpu"])
    assert info.value.code == 2
    capsys.readouterr()
    if torch.cuda.is_available():
        return
    with pytest.raises(SystemExit) as info:  # refused before any data is loaded
        module.main([*argv, "--device", "cuda"])
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert "--device" in err and "cuda" in err
    monkeypatch.setenv(config.DEVICE_ENV, "gpu")
    with pytest.raises(SystemExit) as info:
        module.main(argv)
    assert info.value.code == 2 and "MMRS_DEVICE" in capsys.readouterr().err
    assert not (tmp_path / "x.json").exists()


@pytest.mark.parametrize("value", ["gpu", "cuda"])
def test_train_command_checks_the_environment_setting(value, tmp_path, capsys, monkeypatch):
    from mmrs import cli

    if value == "cuda" and torch.cuda.is_available():
        pytest.skip("CUDA is available here")
    monkeypatch.setenv(config.DEVICE_ENV, value)
    out = tmp_path / "x.json"
    argv = ["train", "--model", "bpr", "--dataset", "amazon-baby", "--out", str(out), "--no-progress"]
    try:
        code = cli.main(argv)
    except SystemExit as exit_:
        code = exit_.code
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and value in err and not out.exists()


def test_replication_config_records_the_device():
    from mmrs.experiments.bm3 import capped_config

    assert capped_config(3, 1).device == "cpu"
    assert capped_config(3, 1, "auto").device == "auto"


# -- no .numpy() on a tensor that may live on a device ----------------------------------------

NUMPY_ON_CPU_TENSORS = {
    # (file under src/mmrs, source of the call): tensors made from NumPy on the CPU
    ("models/freedom.py", "torch.multinomial(weights, n_keep, replacement=False, generator=generator).numpy()"),
}


def test_numpy_calls_in_src_follow_cpu():
    root = Path(mmrs.__file__).parent
    allowed_seen, offenders = set(), []
    for path in sorted(root.rglob("*.py")):
        source = path.read_text()
        for node in ast.walk(ast.parse(source)):
            if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                    and node.func.attr == "numpy"):
                continue
            inner = node.func.value
            if (isinstance(inner, ast.Call) and isinstance(inner.func, ast.Attribute)
                    and inner.func.attr == "cpu"):
                continue
            key = (path.relative_to(root).as_posix(), ast.get_source_segment(source, node))
            if key in NUMPY_ON_CPU_TENSORS:
                allowed_seen.add(key)
            else:
                offenders.append(f"{key[0]}:{node.lineno}: {key[1]}")
    assert offenders == [], "call .cpu() before .numpy() (or mmrs.devices.to_numpy)"
    assert allowed_seen == NUMPY_ON_CPU_TENSORS, "stale allow-list entries"
