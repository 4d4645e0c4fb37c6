"""Command line: ``python -m mmrs train --model lightgcn --dataset amazon-baby --out x.json``.

``train`` loads a dataset (registry name or MMRec-format folder; real data are read from
``$MMRS_DATA``), builds a model, runs :func:`mmrs.train.train` with the profile's sizes
(``--profile ci|full``, default ``$MMRS_PROFILE`` or ``ci``) and writes the JSON record.
"""

from __future__ import annotations

import argparse
import shlex
import sys
from collections.abc import Sequence

from .config import PROFILES, profile
from .models import MODELS, build_model
from .train import TrainConfig, save_record, train


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="mmrs", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    run = commands.add_parser("train", help="train and evaluate one model, write a JSON record")
    run.add_argument("--model", required=True, choices=MODELS)
    run.add_argument("--dataset", required=True, help="registry name (amazon-baby) or folder")
    run.add_argument("--profile", choices=sorted(PROFILES), default=None)
    run.add_argument("--out", required=True, help="path of the JSON record")
    run.add_argument("--seed", type=int, default=2023)
    run.add_argument("--max-epochs", type=int, default=None, help="default: the profile's")
    run.add_argument("--patience", type=int, default=None, help="default: the profile's")
    run.add_argument("--batch-size", type=int, default=None, help="default 2048")
    run.add_argument("--lr", type=float, default=None, help="default 1e-3")
    run.add_argument("--embedding-dim", type=int, default=None, help="default 64")
    run.add_argument("--n-layers", type=int, default=None, help="graph layers: LightGCN (default 2), BM3 (1), FREEDOM user-item (2)")
    run.add_argument("--reg-weight", type=float, default=None, help="default 1e-4 (BM3: 0.1); FREEDOM: weight of its feature BPR losses")
    run.add_argument("--dropout", type=float, default=None, help="BM3 target dropout (0.5); FREEDOM edge-pruning ratio (0.8)")
    run.add_argument(
        "--modalities",
        nargs="*",
        choices=["image", "text"],
        default=None,
        help="BM3/VBPR/FREEDOM modalities (default: every feature file the dataset has; "
        "BM3 with none = ID-only)",
    )
    run.add_argument("--no-inter", action="store_true", help="BM3 without L_align (inter)")
    run.add_argument("--no-intra", action="store_true", help="BM3 without L_mask (intra)")
    run.add_argument(
        "--squared-reg",
        action="store_true",
        default=None,
        help="square the L2 norms in the regulariser (MMRec does not)",
    )
    run.add_argument(
        "--torch-threads",
        type=int,
        default=None,
        help="opt-in torch.set_num_threads(N); default: leave torch's setting alone. On a shared "
        "2-core machine 1 thread trains several times faster than 2 when other jobs compete.",
    )
    run.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    return parser


def _train(args: argparse.Namespace, command: str) -> int:
    from .data.interactions import load_interactions

    if args.torch_threads is not None:
        import torch

        torch.set_num_threads(args.torch_threads)
    prof = profile(args.profile)
    data = load_interactions(args.dataset)
    hparams = {
        "embedding_dim": args.embedding_dim,
        "n_layers": args.n_layers,
        "reg_weight": args.reg_weight,
        "squared_reg": args.squared_reg,
    }
    if args.model == "bm3":
        hparams.pop("squared_reg")
        hparams.update(
            dropout=args.dropout,
            modalities=None if args.modalities is None else tuple(args.modalities),
            use_inter=False if args.no_inter else None,
            use_intra=False if args.no_intra else None,
        )
    elif args.model in ("vbpr", "freedom"):
        if args.squared_reg or args.no_inter or args.no_intra:
            raise SystemExit("--squared-reg/--no-inter/--no-intra do not apply to vbpr/freedom")
        hparams.pop("squared_reg")
        n_layers = hparams.pop("n_layers")
        hparams["modalities"] = None if args.modalities is None else tuple(args.modalities)
        if args.model == "freedom":
            hparams.update(n_ui_layers=n_layers, dropout=args.dropout)
        elif n_layers is not None or args.dropout is not None:
            raise SystemExit("--n-layers/--dropout do not apply to vbpr")
    elif any([args.dropout is not None, args.modalities is not None, args.no_inter, args.no_intra]):
        raise SystemExit("--dropout/--modalities/--no-inter/--no-intra apply to bm3/freedom only")
    if args.model == "bpr":
        if args.n_layers is not None:
            raise SystemExit("--n-layers applies to lightgcn only")
        hparams.pop("n_layers")
    model = build_model(args.model, data, **hparams)
    config = TrainConfig.from_profile(
        prof,
        max_epochs=args.max_epochs,
        patience=args.patience,
        batch_size=args.batch_size,
        lr=args.lr,
        progress=not args.no_progress,
        extra={"profile": prof.name},
    )
    print(data, file=sys.stderr)
    record = train(model, data, config, seed=args.seed, command=command)
    path = save_record(record, args.out)
    spe = record["seconds_per_epoch"]
    print(
        f"{record['model']} on {record['dataset']}: best epoch {record['best_epoch']} of "
        f"{record['epochs_run']}, valid recall@20 {record['valid']['recall@20']:.4f}, "
        f"test recall@20 {record['test']['recall@20']:.4f} ndcg@20 {record['test']['ndcg@20']:.4f}; "
        f"{spe['train']:.2f} s/epoch train, {spe['eval']:.2f} s eval; "
        f"peak RSS {record['peak_rss_mb']:.0f} MiB -> {path}"
    )
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``mmrs`` / ``python -m mmrs``."""
    argv = list(sys.argv[1:] if argv is None else argv)
    args = _parser().parse_args(argv)
    command = " ".join(["python -m mmrs", shlex.join(argv)]).strip()
    if args.command == "train":
        return _train(args, command)
    raise SystemExit(f"unknown command {args.command!r}")


if __name__ == "__main__":
    raise SystemExit(main())
