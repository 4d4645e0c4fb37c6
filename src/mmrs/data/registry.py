"""A checksummed registry of the real datasets the book uses.

Each entry maps a dataset name to its expected files (with sha256), source and licence, like
d2l's ``DATA_HUB``. Files are looked up under the folder named by the ``MMRS_DATA`` environment
variable; nothing is downloaded at run time. A missing folder, a missing file or a checksum
mismatch raises :class:`DatasetError` with a message naming the dataset, the file,
``MMRS_DATA`` and what to do.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, field
from pathlib import Path

DATA_ENV = "MMRS_DATA"


class DatasetError(RuntimeError):
    """A dataset is missing, altered, or malformed. The message says which file and what to do."""


@dataclass(frozen=True)
class DatasetSpec:
    """What a dataset folder must contain and where it came from."""

    name: str
    folder: str
    files: dict[str, str]
    """Relative path -> expected sha256 (hex)."""
    source: str
    licence: str
    description: str
    counts: dict[str, int] = field(default_factory=dict)
    """Published counts the loaders check (users, items, interactions, ...)."""


_AMAZON_SOURCE = (
    "Amazon review data (He & McAuley, WWW 2016; McAuley et al., SIGIR 2015), 5-core subset "
    "as prepared by the MMRec toolbox (Zhou et al.)"
)
_MATCHING_SOURCE = (
    "Leipzig DBS entity-resolution benchmarks (Köpcke, Thor, Rahm, PVLDB 2010), "
    "in the layout of the pyJedAI project"
)

REGISTRY: dict[str, DatasetSpec] = {
    spec.name: spec
    for spec in [
        DatasetSpec(
            name="amazon-baby",
            folder="amazon-baby",
            files={
                "baby.inter": "68005aa6d07d20c4f561d266877eabded53e3f81ff246e87739a753b0fbd7c96",
                "baby_url.csv": "089b54a6240b0c397d270d726c4cd2923562b0527f3608841294825c6e3803a1",
                "i_id_mapping.csv": "c56ff96cd1f703b6dc8ac4469856a856019ec1577ac243508e3d253f80878bb6",
                "u_id_mapping.csv": "a80850b8b46008e3bceabdc7ab72ab6e3620616394709daed7d12dc499626b60",
            },
            source=_AMAZON_SOURCE,
            licence="research use",
            description="Amazon Baby 5-core, MMRec's interaction pairs and ids; no split, no features.",
            counts={"users": 19_445, "items": 7_050, "interactions": 160_792},
        ),
        DatasetSpec(
            name="amazon-sports",
            folder="amazon-sports",
            files={
                "sports.inter": "e86b214b4f0b37bc52ab6b58fbd9a29a11bbd364e6bdd8f64620d6aa180a6955"
            },
            source=_AMAZON_SOURCE,
            licence="research use",
            description="Amazon Sports and Outdoors 5-core in MMRec format with x_label split.",
            counts={"users": 35_598, "items": 18_357, "interactions": 296_337},
        ),
        DatasetSpec(
            name="amazon-clothing",
            folder="amazon-clothing",
            files={
                "clothing.inter": "33267f83e04f92f8232bb4b6143ef4c55dbe086b1068653483342f20a55b10ae"
            },
            source=_AMAZON_SOURCE,
            licence="research use",
            description="Amazon Clothing, Shoes and Jewelry 5-core in MMRec format with x_label split.",
            counts={"users": 39_387, "items": 23_033, "interactions": 278_677},
        ),
        DatasetSpec(
            name="fashion-small",
            folder="fashion-small",
            files={
                "styles.csv": "b5451284ea74ad2b93cc7bbfbfa8334457661a3cb898fc590a1de80f0a1a18de",
                "styles_text.csv": "4245371ef7cdf8b79a2ed0fffccf77654eb27af70d625403e23fb6ef57e90840",
                "images.zip": "50b004a29c559b9787e2637c0c0cc9993d5797f6ff09335d077a94aeeafbab8a",
            },
            source="Fashion Product Images (Small), published by Param Aggarwal on Kaggle",
            licence="as published on Kaggle (see the dataset page)",
            description="44,446 fashion products: category tree, titles and 60x80 photos.",
            counts={"products": 44_446, "images": 44_441},
        ),
        DatasetSpec(
            name="abt-buy",
            folder="product-matching/abt-buy",
            files={
                "abt.csv": "8370815f2beaeee938459397ef2343d99abf0a40506351ad8db9a70247e64a37",
                "buy.csv": "75ca7059f38587af57f1843cefcb9a8fe3ad14ae21855ab17593d03f0f02cd82",
                "gt.csv": "f78f39dc38609594fe9c8d0f7868a46e51c5684f0a1467b23f9c4a5af219ad7c",
            },
            source=_MATCHING_SOURCE,
            licence="Apache-2.0 (pyJedAI layout)",
            description="Abt-Buy product matching: 1,076 + 1,076 listings, 1,076 true pairs.",
            counts={"left": 1_076, "right": 1_076, "pairs": 1_076},
        ),
        DatasetSpec(
            name="amazon-google",
            folder="product-matching/amazon-google",
            files={
                "amazon.csv": "61efedf46fb75455a400b4b50074c8d54a79ef2e232ea0ae97e35a6d4621f2f6",
                "gp.csv": "b898594207be2c50acfc1cccb07486db43bc1327f076d2bc10afae2ba84ab89e",
                "gt.csv": "ae55ac5a5d971b12d3cf4eba7275d529a6105a64ccd4e58dbc186e710b342b44",
            },
            source=_MATCHING_SOURCE,
            licence="Apache-2.0 (pyJedAI layout)",
            description="Amazon-GoogleProducts matching: 1,354 + 3,039 listings, 1,103 true pairs.",
            counts={"left": 1_354, "right": 3_039, "pairs": 1_103},
        ),
    ]
}

_VERIFIED: set[tuple[str, int, int]] = set()


def data_root() -> Path:
    """The folder named by ``$MMRS_DATA``; raises :class:`DatasetError` if unset or missing."""
    value = os.environ.get(DATA_ENV)
    if not value:
        raise DatasetError(
            f"{DATA_ENV} is not set. Point it at the folder that holds the datasets, e.g. "
            f"`export {DATA_ENV}=../shared/datasets` (see data/README.md for where to get them)."
        )
    root = Path(value).expanduser()
    if not root.is_dir():
        raise DatasetError(
            f"{DATA_ENV}={value!r} is not a folder. Set {DATA_ENV} to the folder that holds "
            f"{', '.join(sorted(REGISTRY))} (see data/README.md)."
        )
    return root


def sha256sum(path: Path, chunk: int = 1 << 20) -> str:
    """Hex sha256 of a file, read in chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while block := handle.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def get_spec(name: str) -> DatasetSpec:
    """The registry entry for ``name``; unknown names list the known ones."""
    if name not in REGISTRY:
        raise DatasetError(f"Unknown dataset {name!r}; known datasets: {', '.join(sorted(REGISTRY))}.")
    return REGISTRY[name]


def verify_file(spec: DatasetSpec, relpath: str, path: Path) -> None:
    """Check one file's presence and sha256 against ``spec`` (cached per size and mtime)."""
    if not path.is_file():
        raise DatasetError(
            f"Dataset {spec.name!r}: file {relpath!r} is missing (looked for {path}; "
            f"{DATA_ENV}={os.environ.get(DATA_ENV)!r}). Put the published file there "
            f"(source: {spec.source}) or point {DATA_ENV} at the folder that has it."
        )
    stat = path.stat()
    key = (str(path), stat.st_size, stat.st_mtime_ns)
    if key in _VERIFIED:
        return
    actual = sha256sum(path)
    expected = spec.files[relpath]
    if actual != expected:
        raise DatasetError(
            f"Dataset {spec.name!r}: file {relpath!r} at {path} has sha256 {actual}, expected "
            f"{expected}. The file is altered or truncated: replace it with the published file "
            f"(source: {spec.source}) under {DATA_ENV}={os.environ.get(DATA_ENV)!r}."
        )
    _VERIFIED.add(key)


def dataset_path(name: str, verify: bool = True) -> Path:
    """Folder of dataset ``name`` under ``$MMRS_DATA``, with every file checked by sha256."""
    spec = get_spec(name)
    folder = data_root() / spec.folder
    if not folder.is_dir():
        raise DatasetError(
            f"Dataset {name!r}: folder {folder} does not exist ({DATA_ENV}="
            f"{os.environ.get(DATA_ENV)!r}). Expected files: {', '.join(spec.files)}. "
            f"Copy the dataset there (source: {spec.source})."
        )
    if verify:
        for relpath in spec.files:
            verify_file(spec, relpath, folder / relpath)
    return folder


def available(name: str) -> bool:
    """True when ``name`` is present and verified under ``$MMRS_DATA`` (never raises)."""
    try:
        dataset_path(name)
    except DatasetError:
        return False
    return True
