"""A checksummed registry of the real datasets the book uses.

Each entry maps a dataset name to its expected files (with sha256), source and licence, like
d2l's ``DATA_HUB``. Files are looked up under the folder named by the ``MMRS_DATA`` environment
variable, or, when it is unset, under the per-user data folder (:func:`user_data_dir`); nothing
is downloaded at run time (``python -m mmrs data fetch NAME`` does that, see
:mod:`mmrs.data.fetch`). A missing folder, a missing file or a checksum mismatch raises
:class:`DatasetError` with a message naming the dataset, the file, ``MMRS_DATA`` and the one
command that gets the data (or, where the book may not redistribute it, where to obtain it).

:func:`dataset_identity` says exactly which data a run used: a registry name with its verified
checksums, or a folder path (recorded as given, never under a registry name) with the sha256 of
its interaction and feature files.
"""

from __future__ import annotations

import difflib
import hashlib
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

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
    redistribute: bool = False
    """Whether the licence lets the book publish an archive of these files (``mmrs data fetch``
    downloads only those); ``False`` when in doubt."""
    original: str = ""
    """Where the original files come from (URL or how to obtain them)."""


_AMAZON_SOURCE = (
    "Amazon review data (He & McAuley, WWW 2016; McAuley et al., SIGIR 2015), 5-core subset "
    "as prepared by the MMRec toolbox (Zhou et al.)"
)
_MATCHING_SOURCE = (
    "Leipzig DBS entity-resolution benchmarks (Köpcke, Thor, Rahm, PVLDB 2010), "
    "in the layout of the pyJedAI project"
)

_MMREC_ORIGINAL = (
    "MMRec's data folder on Google Drive "
    "(https://drive.google.com/drive/folders/13cBy1EA_saTUuXxVllKgtfci2A09jyaG, linked from "
    "https://github.com/enoche/MMRec/tree/master/data), built from the Amazon review data "
    "(https://cseweb.ucsd.edu/~jmcauley/datasets/amazon/links.html)"
)
_FASHION_ORIGINAL = (
    "Kaggle: https://www.kaggle.com/datasets/paramaggarwal/fashion-product-images-small "
    "(a Kaggle account is needed); the book's copy splits styles.csv into styles.csv and "
    "styles_text.csv (titles) and zips the photos as images/<id>.jpg"
)
_PYJEDAI_ORIGINAL = (
    "https://dbs.uni-leipzig.de/research/projects/benchmark-datasets-for-entity-resolution; "
    "layout: https://github.com/AI-team-UoA/pyJedAI/tree/main/data/"
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
            redistribute=False,
            original=_MMREC_ORIGINAL,
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
            redistribute=False,
            original=_MMREC_ORIGINAL,
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
            redistribute=False,
            original=_MMREC_ORIGINAL,
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
            redistribute=False,
            original=_FASHION_ORIGINAL,
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
            redistribute=True,
            original=_PYJEDAI_ORIGINAL + "ccer/D2 (abt.csv, buy.csv, gt.csv)",
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
            redistribute=True,
            original=_PYJEDAI_ORIGINAL + "ccer/D3 (amazon.csv, gp.csv, gt.csv)",
        ),
    ]
}

_VERIFIED: set[tuple[str, int, int]] = set()


FETCH_COMMAND = "python -m mmrs data fetch"
VERIFY_COMMAND = "python -m mmrs data verify"


def user_data_dir() -> Path:
    """The per-user data folder used when ``$MMRS_DATA`` is unset:
    ``pooch.os_cache("mmrs") / "datasets"`` (e.g. ``~/.cache/mmrs/datasets`` on Linux)."""
    import pooch  # lazy: only needed when MMRS_DATA is unset

    return Path(pooch.os_cache("mmrs")) / "datasets"


def data_root() -> Path:
    """The folder named by ``$MMRS_DATA``, else the per-user data folder (created).

    Raises :class:`DatasetError` if ``$MMRS_DATA`` is set but is not a folder."""
    value = os.environ.get(DATA_ENV)
    if not value:
        root = user_data_dir()
        try:
            root.mkdir(parents=True, exist_ok=True)
        except OSError as err:
            raise DatasetError(
                f"{DATA_ENV} is not set and the per-user data folder {root} cannot be created "
                f"({err.strerror}). Set {DATA_ENV} to the folder that holds the datasets."
            ) from None
        return root
    root = Path(value).expanduser()
    if not root.is_dir():
        raise DatasetError(
            f"{DATA_ENV}={value!r} is not a folder. Set {DATA_ENV} to the folder that holds "
            f"{', '.join(sorted(REGISTRY))}, or create it and run `{FETCH_COMMAND} NAME` "
            "(see data/README.md)."
        )
    return root


def _root_note() -> str:
    """Where the data folder came from, for error messages."""
    value = os.environ.get(DATA_ENV)
    if value:
        return f"{DATA_ENV}={value!r}"
    return f"{DATA_ENV} is not set, so the per-user data folder is used"


def how_to_get(spec: DatasetSpec, folder: Path | None = None) -> str:
    """The one thing to do to get dataset ``spec``: the fetch command, or (where the book may
    not redistribute it) where to obtain it, where to put it (``folder``) and the verify
    command."""
    if spec.redistribute:
        return f"Fetch it with `{FETCH_COMMAND} {spec.name}`."
    where = spec.original or spec.source
    target = str(folder) if folder is not None else f"<data folder>/{spec.folder}"
    return (
        f"The book does not redistribute it (licence: {spec.licence}): get it from {where}, "
        f"put the files in {target} and check them with `{VERIFY_COMMAND} {spec.name}`."
    )


def sha256sum(path: Path, chunk: int = 1 << 20) -> str:
    """Hex sha256 of a file, read in chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while block := handle.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def unknown_dataset_message(name: str) -> str:
    """One line for a name that is neither a registry name nor a folder: a guess and the names."""
    close = difflib.get_close_matches(name, list(REGISTRY), n=1)
    guess = f"did you mean {close[0]!r}? " if close else ""
    return (
        f"Unknown dataset {name!r}: {guess}known datasets: {', '.join(sorted(REGISTRY))} "
        "(or pass the path of an MMRec-format folder)."
    )


def get_spec(name: str) -> DatasetSpec:
    """The registry entry for ``name``; unknown names list the known ones (with a guess)."""
    if name not in REGISTRY:
        raise DatasetError(unknown_dataset_message(name))
    return REGISTRY[name]


def verify_file(spec: DatasetSpec, relpath: str, path: Path) -> None:
    """Check one file's presence and sha256 against ``spec`` (cached per size and mtime)."""
    if not path.is_file():
        raise DatasetError(
            f"Dataset {spec.name!r}: file {relpath!r} is missing (looked for {path}; "
            f"{_root_note()}). {how_to_get(spec, path.parent)} Or point {DATA_ENV} at the "
            "folder that has it."
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
            f"{expected}. The file is altered or truncated ({_root_note()}): replace it. "
            f"{how_to_get(spec, path.parent)}"
        )
    _VERIFIED.add(key)


def dataset_path(name: str, verify: bool = True) -> Path:
    """Folder of dataset ``name`` under :func:`data_root`, with every file checked by sha256."""
    spec = get_spec(name)
    folder = data_root() / spec.folder
    if not folder.is_dir():
        raise DatasetError(
            f"Dataset {name!r}: folder {folder} does not exist ({_root_note()}). "
            f"Expected files: {', '.join(spec.files)}. {how_to_get(spec, folder)}"
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


IDENTITY_PATTERNS: tuple[str, ...] = ("*.inter", "*_feat.npy")
"""Files of a non-registry folder whose sha256 :func:`dataset_identity` records."""

_HASHES: dict[tuple[str, int, int], str] = {}


def _cached_sha256(path: Path) -> str:
    stat = path.stat()
    key = (str(path.resolve()), stat.st_size, stat.st_mtime_ns)
    if key not in _HASHES:
        _HASHES[key] = sha256sum(path)
    return _HASHES[key]


def dataset_identity(spec: str | Path) -> dict[str, Any]:
    """Which data ``spec`` names: ``{"name", "source", "sha256", "registry"}``.

    A registry name (a ``str`` in :data:`REGISTRY`) is verified under ``$MMRS_DATA``; ``name`` is
    the registry name, ``source`` its absolute folder and ``sha256`` the registry's checksums
    (every file checked). Any other value must be a folder: ``name`` is the path as given (a
    folder called ``amazon-baby`` stays a path, never the registry name), ``registry`` is
    ``False`` and ``sha256`` maps each interaction and feature file (:data:`IDENTITY_PATTERNS`)
    to its computed hash. Anything else raises :class:`DatasetError` listing the registry names.
    """
    if isinstance(spec, str) and spec in REGISTRY:
        folder = dataset_path(spec)
        return {
            "name": spec,
            "source": str(folder.resolve()),
            "sha256": dict(REGISTRY[spec].files),
            "registry": True,
        }
    folder = Path(spec).expanduser()
    if not folder.is_dir():
        if folder.exists():
            raise DatasetError(f"{folder}: is a file; pass a registry name or a dataset folder.")
        raise DatasetError(unknown_dataset_message(str(spec)))
    files = sorted({p for pattern in IDENTITY_PATTERNS for p in folder.glob(pattern) if p.is_file()})
    return {
        "name": str(spec),
        "source": str(folder.resolve()),
        "sha256": {p.name: _cached_sha256(p) for p in files},
        "registry": False,
    }
