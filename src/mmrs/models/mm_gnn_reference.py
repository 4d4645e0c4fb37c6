"""Reference forward passes and losses of MMGCN, GRCN and DualGNN that follow MMRec's code
structure (PyG ``MessagePassing`` layers on ``edge_index``, MMRec's loops, in-place adds and loss
expressions), computed in float64 from a model's own parameters.

For tests and benchmarks only: :mod:`mmrs.models.mmgcn`, :mod:`mmrs.models.grcn` and
:mod:`mmrs.models.dualgnn` must give the same representations and losses (see
``tests/test_mmgcn_grcn_dualgnn.py``). Written from MMRec's ``models/{mmgcn,grcn,dualgnn}.py``;
no code copied.
"""

from __future__ import annotations

import scipy.sparse as sp
import torch
import torch.nn.functional as F
from torch_geometric.nn.conv import MessagePassing
from torch_geometric.utils import degree, remove_self_loops
from torch_geometric.utils import softmax as edge_softmax

from ..graph import bipartite_edge_index

__all__ = ["dualgnn_reference", "grcn_reference", "mmgcn_reference"]


def _d(t: torch.Tensor) -> torch.Tensor:
    return t.detach().to(torch.float64)


def _same(t: torch.Tensor) -> torch.Tensor:
    return t


def _linear(layer: torch.nn.Linear, x: torch.Tensor, cast=_d) -> torch.Tensor:  # type: ignore[no-untyped-def]
    return F.linear(x, cast(layer.weight), None if layer.bias is None else cast(layer.bias))


class PlainConv(MessagePassing):
    """``x_j`` messages, ``aggr`` aggregation (MMRec's MMGCN ``BaseModel`` without its weight)."""

    def __init__(self, aggr: str) -> None:
        super().__init__(aggr=aggr)

    def forward(self, x: torch.Tensor, edge_index: torch.Tensor) -> torch.Tensor:
        return self.propagate(edge_index, size=(x.size(0), x.size(0)), x=x)

    def message(self, x_j: torch.Tensor) -> torch.Tensor:
        return x_j


class WeightedConv(MessagePassing):
    """``x_j * w`` messages, summed (MMRec's GRCN ``SAGEConv``)."""

    def __init__(self) -> None:
        super().__init__(aggr="add")

    def forward(self, x: torch.Tensor, edge_index: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        self.w = w
        return self.propagate(edge_index, size=None, x=x)

    def message(self, x_j: torch.Tensor) -> torch.Tensor:
        return x_j * self.w


class DotAttention(MessagePassing):
    """MMRec's GRCN ``GATConv``: ``α = softmax_i(x_i · x_j)``, messages ``α x_j``, summed."""

    def __init__(self) -> None:
        super().__init__(aggr="add")

    def forward(self, x: torch.Tensor, edge_index: torch.Tensor) -> torch.Tensor:
        edge_index, _ = remove_self_loops(edge_index)
        return self.propagate(edge_index, size=None, x=x)

    def message(self, x_i: torch.Tensor, x_j: torch.Tensor, size_i: int,
                edge_index_i: torch.Tensor) -> torch.Tensor:
        self.alpha = edge_softmax((x_i * x_j).sum(dim=-1), edge_index_i, num_nodes=size_i)
        return x_j * self.alpha.view(-1, 1)


class NormConv(MessagePassing):
    """MMRec's DualGNN ``Base_gcn`` with ``aggr="add"``: ``x_j / sqrt(deg_row deg_col)``."""

    def __init__(self) -> None:
        super().__init__(aggr="add")

    def forward(self, x: torch.Tensor, edge_index: torch.Tensor) -> torch.Tensor:
        edge_index, _ = remove_self_loops(edge_index)
        return self.propagate(edge_index, size=(x.size(0), x.size(0)), x=x)

    def message(self, x_j: torch.Tensor, edge_index: torch.Tensor, size: tuple) -> torch.Tensor:
        row, col = edge_index
        deg_inv_sqrt = degree(row, size[0], dtype=x_j.dtype).pow(-0.5)
        return (deg_inv_sqrt[row] * deg_inv_sqrt[col]).view(-1, 1) * x_j


def _bpr_pairs(out: torch.Tensor, n_users: int, users: torch.Tensor, pos: torch.Tensor,
               neg: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """MMRec's interleaved ``user_tensor``/``item_tensor`` and ``-mean log σ(score @ [1, -1])``."""
    user_tensor = users.repeat_interleave(2)
    item_tensor = torch.stack((pos + n_users, neg + n_users)).t().contiguous().view(-1)
    score = (out[user_tensor] * out[item_tensor]).sum(dim=1).view(-1, 2)
    sign = torch.tensor([[1.0], [-1.0]], dtype=out.dtype)
    return -torch.mean(torch.log(torch.sigmoid(score @ sign))), user_tensor, item_tensor


def mmgcn_reference(model, train: sp.spmatrix, users, pos, neg) -> tuple[torch.Tensor, torch.Tensor]:  # type: ignore[no-untyped-def]
    """``(representation [U+I, d], loss)`` of MMRec's MMGCN with ``model``'s parameters."""
    edge_index = bipartite_edge_index(train)
    conv = PlainConv("mean")
    ids = _d(model.id_embedding)
    representation = None
    for m in ("image", "text"):  # MMRec's v_gcn, then t_gcn
        if m not in model.gcns:
            continue
        g = model.gcns[m]
        feats = _d(g.features)
        temp = _linear(g.mlp, feats) if g.mlp is not None else feats
        x = F.normalize(torch.cat((_d(g.preference), temp), dim=0))
        for layer in range(len(g.conv)):
            h = F.leaky_relu(conv(x @ _d(g.conv[layer]), edge_index))
            x_hat = F.leaky_relu(_linear(g.linear[layer], x)) + ids
            if g.concat:
                x = F.leaky_relu(_linear(g.gate[layer], torch.cat((h, x_hat), dim=1)))
            else:
                x = F.leaky_relu(_linear(g.gate[layer], h) + x_hat)
        representation = x if representation is None else representation + x
    assert representation is not None
    representation = representation / len(model.gcns)
    loss, user_tensor, item_tensor = _bpr_pairs(representation, model.n_users, users, pos, neg)
    reg = (ids[user_tensor] ** 2 + ids[item_tensor] ** 2).mean()
    if "image" in model.gcns:
        reg = reg + (_d(model.gcns["image"].preference) ** 2).mean()
    return representation, loss + model.reg_weight * reg


def grcn_reference(model, train: sp.spmatrix, users, pos, neg,  # type: ignore[no-untyped-def]
                   differentiable: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
    """``(representation, loss)`` of MMRec's GRCN (routing rounds included, ``n_routing=3``).

    ``differentiable``: use ``model``'s parameters as they are (their dtype, gradients flow), for
    the training loop of ``benchmarks/bench_lattice_grcn.py``; by default detached float64 copies."""
    d = _same if differentiable else _d
    one_way = bipartite_edge_index(train, both_directions=False)
    both = torch.cat((one_way, one_way[[1, 0]]), dim=1)
    n_users = model.n_users
    contents, weights = [], []
    for m in model.modalities:
        gat = DotAttention()
        feats = F.leaky_relu(_linear(model.projections[m], d(getattr(model, f"features_{m}")), d))
        preference = F.normalize(d(model.preferences[m]))
        feats = F.normalize(feats)
        for _ in range(3):
            x_hat = gat(torch.cat((preference, feats), dim=0), one_way)
            preference = F.normalize(preference + x_hat[:n_users])
        x = torch.cat((preference, feats), dim=0)
        contents.append(x + gat(x, both))
        weights.append(gat.alpha.view(-1, 1))
    weight = torch.cat(weights, dim=1)
    conf = d(model.confidence)
    mode = model.config.weight_mode
    if mode == "mean":
        weight = weight.sum(dim=1, keepdim=True) / len(weights)
    elif mode == "max":
        weight = weight.max(dim=1).values.view(-1, 1)
    else:
        confidence = torch.cat((conf[one_way[0]], conf[one_way[1]]), dim=0)
        weight = (weight * confidence).max(dim=1).values.view(-1, 1)
    if model.config.pruning:
        weight = torch.relu(weight)
    sage = WeightedConv()
    ids = d(model.id_embedding)
    x = F.normalize(ids)
    x1 = sage(x, both, weight)
    x2 = sage(x1, both, weight)
    representation = torch.cat((x + x1 + x2, *contents), dim=1)
    loss, user_tensor, item_tensor = _bpr_pairs(representation, n_users, users, pos, neg)
    reg_embedding = (ids[user_tensor] ** 2 + ids[item_tensor] ** 2).mean()
    if "image" in model.modalities:
        reg_embedding = reg_embedding + (d(model.preferences["image"]) ** 2).mean()
    reg_content = torch.zeros(1, dtype=representation.dtype)
    for m in model.modalities:
        reg_content = reg_content + (d(model.preferences[m])[user_tensor] ** 2).mean()
    return representation, (loss + model.reg_weight * (reg_embedding + reg_content)).squeeze()


def dualgnn_reference(model, train: sp.spmatrix, users, pos, neg,  # type: ignore[no-untyped-def]
                      user_index: torch.Tensor, user_weights: torch.Tensor,
                      ) -> tuple[torch.Tensor, torch.Tensor]:
    """``(result_embed, loss)`` of MMRec's DualGNN, with a sampled user graph given as MMRec's
    ``epoch_user_graph`` (``[U, k]`` indices) and ``user_weight_matrix`` (``[U, k]``)."""
    edge_index = bipartite_edge_index(train)
    conv = NormConv()
    n_users = model.n_users
    reps, prefs = {}, {}
    for m in model.modalities:
        mlp1, mlp2 = model.mlps[m][0], model.mlps[m][2]
        temp = _linear(mlp2, F.leaky_relu(_linear(mlp1, _d(getattr(model, f"features_{m}")))))
        x = F.normalize(torch.cat((_d(model.preferences[m]), temp), dim=0))
        h = conv(x, edge_index)
        h_1 = conv(h, edge_index)
        reps[m], prefs[m] = h + x + h_1, _d(model.preferences[m])
    v_rep, t_rep = reps.get("image"), reps.get("text")
    representation = None
    if v_rep is not None:
        representation = v_rep
    if t_rep is not None:
        if representation is None:
            representation = t_rep
        else:
            representation += t_rep  # in place: v_rep now holds v + t, as in MMRec
    assert representation is not None
    weight_u = _d(model.weight_u)
    if v_rep is not None:
        v_rep = torch.unsqueeze(v_rep, 2)
        user_rep = v_rep[:n_users]
    if t_rep is not None:
        t_rep = torch.unsqueeze(t_rep, 2)
        user_rep = t_rep[:n_users]
    if v_rep is not None and t_rep is not None:
        user_rep = torch.matmul(torch.cat((v_rep[:n_users], t_rep[:n_users]), dim=2), weight_u)
    user_rep = torch.squeeze(user_rep)
    item_rep = representation[n_users:]
    h_u1 = torch.matmul(user_weights.to(torch.float64).unsqueeze(1), user_rep[user_index]).squeeze()
    result = torch.cat((user_rep + h_u1, item_rep), dim=0)
    u, i, j = result[users], result[pos + n_users], result[neg + n_users]
    loss = -torch.mean(torch.log2(torch.sigmoid((u * i).sum(1) - (u * j).sum(1))))
    reg = sum((p[users] ** 2).mean() for p in prefs.values())
    reg_loss = model.reg_weight * reg
    reg_loss = reg_loss + model.reg_weight * (weight_u ** 2).mean()
    reg_loss = reg_loss + model.reg_weight * (_d(model.weight_i) ** 2).mean()
    return result, loss + reg_loss
