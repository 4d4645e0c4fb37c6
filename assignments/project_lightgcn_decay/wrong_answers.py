"""Plausible wrong answers to the mini project; each must lose points on its question.

``WRONG_ANSWERS[question][description]`` replaces that question's answer cell in the reference
notebook (``assignments/build.py --check`` and ``tests/test_assignments.py`` grade the result).
"""

_CLASSES = '''

@dataclass(frozen=True)
class DecayLightGCNConfig(LightGCNConfig):
    decay: float = 1.0

    def __post_init__(self):
        super().__post_init__()
        self._set("decay", check_float("decay", self.decay, 0.0))


class DecayLightGCN(LightGCN):
    name = "lightgcn-decay"
    decay = config_property("decay")

    def __init__(self, train, embedding_dim=64, n_layers=2, reg_weight=1e-4, squared_reg=False,
                 decay=1.0):
        super().__init__(train, embedding_dim, n_layers, reg_weight, squared_reg)
        self.config = DecayLightGCNConfig(**self.config.hparams(), decay=decay)

    def forward(self):
        ego = torch.cat([self.user_embedding, self.item_embedding], dim=0)
        layers = propagate(self.adj, ego, self.n_layers, symmetric=True)
        w = layer_weights(self.decay, self.n_layers).to(ego)
        final = (torch.stack(layers, dim=0) * w[:, None, None]).sum(dim=0)
        return final[: self.n_users], final[self.n_users :]
'''

_RUN = '''
data = synthetic_interactions(**DATA)
grid = {}
for decay in DECAYS:
    model = DecayLightGCN(data.train, embedding_dim=EMBEDDING_DIM, n_layers=N_LAYERS, decay=decay)
    grid[decay] = train(model, data, TRAIN, seed=SEED, command=f"project: decay={decay}")
best_decay = select_by_validation(grid)
record = grid[best_decay]
'''

WRONG_ANSWERS = {
    "p1_model": {
        "layer weights not normalised (sum of beta^l H^l)": '''
def layer_weights(decay, n_layers):
    return torch.tensor([float(decay) ** layer for layer in range(n_layers + 1)])
''' + _CLASSES,
        "weights reversed (beta^(L - l): the deepest layer gets w_0)": '''
def layer_weights(decay, n_layers):
    w = torch.tensor([float(decay) ** (n_layers - layer) for layer in range(n_layers + 1)])
    return w / w.sum()
''' + _CLASSES,
    },
    "p2_selection": {
        "selects on the test metric (MMRec's habit)": '''
def select_by_validation(grid, metric="recall@20"):
    return max(grid, key=lambda key: grid[key]["metrics"]["test"][metric])
''',
        "ignores the metric argument (always recall@20)": '''
def select_by_validation(grid, metric="recall@20"):
    return max(grid, key=lambda key: grid[key]["metrics"]["valid"]["recall@20"])
''',
        "ties go to the last key": '''
def select_by_validation(grid, metric="recall@20"):
    best = None
    for key, record in grid.items():
        if best is None or record["metrics"]["valid"][metric] >= grid[best]["metrics"]["valid"][metric]:
            best = key
    return best
''',
    },
    "p3_record": {
        "metrics edited by hand after training (the rerun disagrees)": _RUN + '''
record["metrics"]["test"]["recall@20"] = round(record["metrics"]["test"]["recall@20"] + 0.05, 2)
records.save(record, "submission_record.json")
''',
        "a record written by hand instead of by mmrs.train.train": _RUN + '''
record = {"kind": "train", "model": "lightgcn-decay", "metrics": record["metrics"]}
with open("submission_record.json", "w") as f:
    import json

    json.dump(record, f)
''',
        "the first grid point is submitted (no selection)": '''
data = synthetic_interactions(**DATA)
grid = {}
for decay in DECAYS:
    model = DecayLightGCN(data.train, embedding_dim=EMBEDDING_DIM, n_layers=N_LAYERS, decay=decay)
    grid[decay] = train(model, data, TRAIN, seed=SEED, command=f"project: decay={decay}")
best_decay = DECAYS[0]
record = grid[best_decay]
records.save(record, "submission_record.json")
''',
        "trained for more epochs than the budget": '''
data = synthetic_interactions(**DATA)
grid = {}
longer = TrainConfig(max_epochs=4, patience=5, lr=0.01, ks=(10, 20), progress=False, device="cpu")
for decay in DECAYS:
    model = DecayLightGCN(data.train, embedding_dim=EMBEDDING_DIM, n_layers=N_LAYERS, decay=decay)
    grid[decay] = train(model, data, longer, seed=SEED, command=f"project: decay={decay}")
best_decay = select_by_validation(grid)
record = grid[best_decay]
records.save(record, "submission_record.json")
''',
    },
}
