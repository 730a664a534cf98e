"""Your own pictures: every PNG, JPEG, BMP or WebP file under a folder (``data.name=folder``).

Layout (the ImageFolder convention)::

    PATH/cat/001.jpg  PATH/cat/more/002.png  PATH/dog/003.webp   # labelled: one sub-folder per class
    PATH/001.jpg  PATH/002.png                                    # unlabelled: images at the top level

The class names are the first-level sub-folders' names, sorted; images deeper down
belong to the class of their first-level folder. Names that start with ``.``
(``.ipynb_checkpoints``, ``.DS_Store``) are skipped, as are files of other types.

Each image is read with Pillow and converted to 8-bit RGB or grey (palette, alpha
over white, CMYK, 16-bit), centre-cropped to a square and resized to the model's
size (Lanczos, with a box reduction first for large pictures). The result is one
uint8 array kept in a cache file (:func:`cache_dir`) named by a digest of the
folder's path, the image size and every file's name, size and modification time:
the next start of the same folder reads it in seconds, a changed folder gets a new one.

A fixed tenth of each class (at least one image) is held out for evaluation: the
images whose path digests sort first, so the split depends on the file names only.
"""

from __future__ import annotations

import hashlib
import logging
import os
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import UserError

log = logging.getLogger(__name__)

EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".webp")
HELD_OUT_SHARE = 0.1  # of each class, for evaluation (tools/eval.py, tools/train_classifier.py)
MIN_PER_CLASS = 2  # one to train on and one held out
MAX_BAD_SHARE = 0.05  # unreadable files skipped with a warning up to this share of all files; more is an error
COLOUR_SPREAD = 12  # a pixel is coloured when its R, G, B differ by more than this (JPEG noise stays below)
COLOUR_SHARE = 0.01  # an image is colour when more than this share of its pixels are coloured
CACHE_FORMAT = "paddle-dcgan-image-cache"
CACHE_VERSION = 1
MEMORY_HEADROOM = 2.5  # the decoded array, its copy in the cache file as it is written, and the training batches


@dataclass
class FolderImages:
    """A folder decoded at one size.

    images: uint8 [N, C, S, S], C = 3 when any image is in colour, else 1.
    labels: int64 [N], the class index (0 for an unlabelled folder).
    class_names: the sorted first-level sub-folder names; () for an unlabelled folder.
    held_out: bool [N], the images kept for evaluation.
    """

    folder: Path
    images: np.ndarray
    labels: np.ndarray
    class_names: tuple[str, ...]
    held_out: np.ndarray
    skipped: int = 0

    @property
    def colour(self) -> bool:
        return self.images.shape[1] == 3

    def split(self, part: str, channels: int) -> tuple[np.ndarray, np.ndarray]:
        """The ``train`` or ``test`` (held-out) images as uint8 [n, channels, S, S] and their labels."""
        keep = self.held_out if part == "test" else ~self.held_out
        return with_channels(self.images[keep], channels), self.labels[keep]


def with_channels(images: np.ndarray, channels: int) -> np.ndarray:
    """uint8 [N, C, S, S] with C = 1 or 3 -> [N, channels, S, S]: grey repeated, or colour to luma (ITU-R 601)."""
    have = images.shape[1]
    if have == channels:
        return images
    if channels == 3:
        return np.repeat(images, 3, axis=1)
    weights = np.array([299, 587, 114], np.uint32).reshape(1, 3, 1, 1)
    return ((images.astype(np.uint32) * weights).sum(1, keepdims=True) // 1000).astype(np.uint8)


# ------------------------------------------------------------------ finding the files
def _visible(name: str) -> bool:
    return not name.startswith(".")


def _walk(top: Path, root: Path) -> list[Path]:
    """Image files under ``top`` (links followed), sorted; a link that leads back up is a UserError."""
    found: list[Path] = []
    seen: set[tuple[int, int]] = set()

    def visit(folder: Path) -> None:
        try:
            info = folder.stat()
            entries = sorted(os.scandir(folder), key=lambda e: e.name)
        except OSError as exc:
            raise UserError(f"cannot read folder '{folder}' ({exc.strerror}); check its permissions") from None
        key = (info.st_dev, info.st_ino)
        if key in seen:
            raise UserError(f"'{folder}' leads back to a folder already read (a symbolic link loop); "
                            f"remove the link under '{root}'")
        seen.add(key)
        for entry in entries:
            if not _visible(entry.name):
                continue
            path = Path(entry.path)
            try:
                is_dir = entry.is_dir()  # follows links; a dangling link is neither
            except OSError:
                is_dir = False
            if is_dir:
                visit(path)
            elif entry.name.lower().endswith(EXTENSIONS):
                found.append(path)
        seen.discard(key)  # the same folder reached by two paths that are not a loop is read twice, like any tool

    visit(top)
    return found


def scan(folder: Path) -> tuple[list[Path], np.ndarray, tuple[str, ...]]:
    """Image files, their class indices and the class names of ``folder``; every layout problem is a UserError."""
    if not folder.exists():
        raise UserError(f"data.dir '{folder}' not found; pass the folder holding your images")
    if not folder.is_dir():
        raise UserError(f"data.dir '{folder}' is a file; pass the folder holding your images")
    try:
        top = sorted(os.scandir(folder), key=lambda e: e.name)
    except OSError as exc:
        raise UserError(f"cannot read data.dir '{folder}' ({exc.strerror}); check its permissions") from None
    subfolders = []
    for entry in top:
        try:
            if _visible(entry.name) and entry.is_dir():
                subfolders.append(Path(entry.path))
        except OSError:
            continue
    loose = [Path(e.path) for e in top if _visible(e.name) and e.name.lower().endswith(EXTENSIONS)
             and not Path(e.path).is_dir()]
    classes = [(sub.name, _walk(sub, folder)) for sub in subfolders]
    if not any(files for _, files in classes):  # unlabelled: images at the top level only
        if not loose:
            raise UserError(f"data.dir '{folder}' holds no images ({', '.join(EXTENSIONS)}); put your pictures "
                            "there, or in one sub-folder per class")
        return loose, np.zeros(len(loose), np.int64), ()
    if loose:
        raise UserError(f"data.dir '{folder}' holds class sub-folders and also {len(loose)} image(s) beside them "
                        f"(e.g. '{loose[0].name}'); move those into a class folder, or the sub-folders' images up")
    for name, files in classes:
        if len(files) < MIN_PER_CLASS:
            raise UserError(f"class folder '{folder / name}' holds {len(files)} image(s); a class needs at least "
                            f"{MIN_PER_CLASS} (one to train on, one held out): add images or remove the folder")
    files = [f for _, fs in classes for f in fs]
    labels = np.concatenate([np.full(len(fs), i, np.int64) for i, (_, fs) in enumerate(classes)])
    return files, labels, tuple(name for name, _ in classes)


def held_out_mask(files: list[Path], labels: np.ndarray, folder: Path) -> np.ndarray:
    """A tenth of each class (at least one image): those whose relative paths' digests sort first."""
    mask = np.zeros(len(files), bool)
    digests = np.array([hashlib.sha256(str(f.relative_to(folder)).encode()).hexdigest() for f in files])
    for label in np.unique(labels):
        members = np.flatnonzero(labels == label)
        count = max(1, int(round(len(members) * HELD_OUT_SHARE)))
        mask[members[np.argsort(digests[members], kind="stable")[:count]]] = True
    return mask


# ------------------------------------------------------------------ decoding
class _BadImage(Exception):
    """Why one file cannot be used (a phrase)."""


def _to_8bit(image):
    """A Pillow image in 8-bit ``L`` or ``RGB``: palettes and alpha (over white), CMYK, 16-bit and float grey."""
    from PIL import Image

    mode = image.mode
    if mode in ("I;16", "I;16L", "I;16B", "I;16N", "I"):
        values = np.asarray(image, dtype=np.float64)
        top = 65535.0 if mode.startswith("I;16") or values.max() > 255 else 255.0
        return Image.fromarray(np.clip(np.rint(values * (255.0 / top)), 0, 255).astype(np.uint8), "L")
    if mode == "F":
        return Image.fromarray(np.clip(np.rint(np.asarray(image, np.float64)), 0, 255).astype(np.uint8), "L")
    if mode == "P":
        image = image.convert("RGBA" if "transparency" in image.info else "RGB")
    elif mode in ("1", "L"):
        return image.convert("L")
    if image.mode in ("RGBA", "LA", "PA", "RGBa", "La"):
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        image = Image.alpha_composite(background, rgba)
        return image.convert("L" if mode in ("LA", "La") else "RGB")
    return image.convert("RGB")


def _square(image, size: int):
    """The centred square of ``image``, resized to ``size`` x ``size``."""
    from PIL import Image

    w, h = image.size
    side = min(w, h)
    left, top = (w - side) // 2, (h - side) // 2
    box = (left, top, left + side, top + side)
    if side == size:
        return image.crop(box)
    return image.resize((size, size), Image.LANCZOS, box=box, reducing_gap=3.0 if side > 2 * size else None)


def decode(path: Path, size: int) -> tuple[np.ndarray, bool]:
    """One file as uint8 [3, size, size] (RGB; a grey image has three equal planes) and whether it is colour.

    A file that cannot be used raises :class:`_BadImage`; one over Pillow's decompression-bomb
    limit is a UserError (it is refused, not skipped: it may be built to exhaust memory).
    """
    from PIL import Image, UnidentifiedImageError

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(path) as image:
                image.draft("RGB", (size, size))  # JPEG: decode at a reduced scale when the picture is large
                image.load()
                image = _to_8bit(image)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise UserError(f"'{path}' is larger than Pillow's decompression-bomb limit ({Image.MAX_IMAGE_PIXELS:,} "
                        "pixels); shrink it or remove it from the folder") from None
    except UnidentifiedImageError:
        raise _BadImage("not an image Pillow can read") from None
    except (OSError, SyntaxError, ValueError, EOFError) as exc:  # truncated, damaged, unreadable
        raise _BadImage(str(exc)[:100] or type(exc).__name__) from None
    if min(image.size) < 1:
        raise _BadImage("it has no pixels")
    pixels = np.asarray(_square(image, size))
    if pixels.ndim == 2:
        return np.broadcast_to(pixels, (3, size, size)), False
    pixels = pixels.transpose(2, 0, 1)
    spread = pixels.max(0).astype(np.int16) - pixels.min(0)
    return pixels, bool((spread > COLOUR_SPREAD).mean() > COLOUR_SHARE)


def _available_memory() -> int | None:
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


def check_memory(count: int, size: int, folder: Path) -> None:
    """A UserError, before anything is decoded, when ``count`` colour images of ``size`` will not fit."""
    need = count * 3 * size * size
    free = _available_memory()
    if free is not None and need * MEMORY_HEADROOM > free:
        raise UserError(f"'{folder}' holds {count:,} images: at {size}x{size} in colour they take "
                        f"{need / 2**30:.2f} GiB ({MEMORY_HEADROOM}x that while the cache is written), and "
                        f"{free / 2**30:.2f} GiB is free; use a smaller model.image_size, fewer images, or a "
                        "machine with more memory")


def decode_all(files: list[Path], size: int, folder: Path) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """uint8 [n, C, S, S] of the readable files, which ones were kept, and why the others were not."""
    check_memory(len(files), size, folder)
    pixels = np.empty((len(files), 3, size, size), np.uint8)
    kept = np.zeros(len(files), bool)
    colour, problems = False, []
    for i, path in enumerate(files):
        try:
            pixels[i], is_colour = decode(path, size)
        except _BadImage as why:
            problems.append(f"'{path.relative_to(folder)}': {why}")
            continue
        kept[i] = True
        colour |= is_colour
    if not kept.any():
        raise UserError(f"none of the {len(files):,} image files in '{folder}' can be read ({problems[0]}); "
                        "pass a folder of PNG, JPEG, BMP or WebP pictures")
    if len(problems) > MAX_BAD_SHARE * len(files):
        raise UserError(f"{len(problems):,} of the {len(files):,} image files in '{folder}' cannot be read "
                        f"(first: {problems[0]}); replace or remove them")
    images = pixels[kept] if colour else np.ascontiguousarray(pixels[kept][:, :1])
    return images, kept, problems


# ------------------------------------------------------------------ the cache
def cache_dir() -> Path:
    """``$PADDLE_DCGAN_CACHE``, else ``~/.cache/paddle_dcgan``: where decoded folders are kept."""
    root = os.environ.get("PADDLE_DCGAN_CACHE") or os.path.join(os.path.expanduser("~"), ".cache", "paddle_dcgan")
    return Path(root) / "images"


def folder_key(folder: Path, files: list[Path], size: int) -> str:
    """A digest of the folder's path, the image size and each file's name, size and modification time."""
    digest = hashlib.sha256(f"{CACHE_VERSION}\0{folder}\0{size}".encode())
    for path in files:
        info = path.stat()
        digest.update(f"\0{path.relative_to(folder)}\0{info.st_size}\0{info.st_mtime_ns}".encode())
    return digest.hexdigest()


def _read_cache(path: Path, key: str, folder: Path) -> dict | None:
    """The cached arrays when ``path`` holds this folder's; None (with a warning when it is unusable) otherwise."""
    from ..files.io import load_tagged

    if not path.is_file():
        return None
    try:
        obj = load_tagged(path, (CACHE_FORMAT,))
        if obj.get("key") != key or obj.get("folder") != str(folder):
            raise UserError(f"it belongs to '{str(obj.get('folder'))[:200]}'")
        images, labels = obj["images"], obj["labels"]
        if (images.dtype != np.uint8 or images.ndim != 4 or images.shape[1] not in (1, 3)
                or labels.shape != (len(images),) or obj["held_out"].shape != (len(images),)):
            raise UserError("its arrays do not fit together")
        return obj
    except (UserError, KeyError, AttributeError) as why:
        log.warning("image cache %s is unusable (%s); decoding the folder again", path, str(why)[:200])
        return None


def load(folder: str | Path, size: int, write_cache: bool = True) -> FolderImages:
    """Every image under ``folder`` at ``size`` x ``size``, from the cache when it is current."""
    folder = Path(folder).expanduser()
    files, labels, class_names = scan(folder)
    root = Path(os.path.abspath(folder))
    files = [Path(os.path.abspath(f)) for f in files]
    key = folder_key(root, files, size)
    path = cache_dir() / f"{key[:32]}.pdcache"
    cached = _read_cache(path, key, root)
    if cached is not None:
        log.info("%s: %d images at %dx%d from the cache %s", root, len(cached["images"]), size, size, path)
        return FolderImages(root, cached["images"], cached["labels"], tuple(cached["class_names"]),
                            cached["held_out"].astype(bool), int(cached["skipped"]))
    log.info("%s: decoding %d image files at %dx%d, up to %.0f MiB in memory (once: later starts read the cache)",
             root, len(files), size, size, len(files) * 3 * size * size / 2**20)
    images, kept, problems = decode_all(files, size, root)
    if problems:
        log.warning("%s: skipped %d unreadable file(s) of %d (first: %s)", root, len(problems), len(files),
                    problems[0])
    files, labels = [f for f, k in zip(files, kept) if k], labels[kept]
    for index, name in enumerate(class_names):
        if (labels == index).sum() < MIN_PER_CLASS:
            raise UserError(f"class folder '{root / name}' has {(labels == index).sum()} readable image(s); "
                            f"a class needs at least {MIN_PER_CLASS}: add images or remove the folder")
    held_out = held_out_mask(files, labels, root)
    result = FolderImages(root, images, labels, class_names, held_out, len(problems))
    if write_cache:
        _write_cache(path, key, result)
    return result


def _write_cache(path: Path, key: str, images: FolderImages) -> None:
    from ..files.io import save_tagged

    try:
        save_tagged({"key": key, "folder": str(images.folder), "class_names": list(images.class_names),
                     "skipped": images.skipped, "images": images.images, "labels": images.labels,
                     "held_out": images.held_out.astype(np.uint8)}, CACHE_FORMAT, path)
    except UserError as why:
        log.warning("cannot keep the decoded images in %s (%s); the next start decodes the folder again",
                    path, str(why)[:200])
