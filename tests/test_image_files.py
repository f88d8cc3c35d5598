"""The image file store: layout, metadata, thumbnails, and failures that leave nothing behind."""

from __future__ import annotations

import errno
import io
import os
from datetime import UTC, datetime
from pathlib import Path

import pytest
from PIL import Image, PngImagePlugin

from dalletui.errors import ErrorKind, GenerationError
from dalletui.generation.files import ImageStore, SavedImage

CREATED = datetime(2026, 11, 5, 14, 30, tzinfo=UTC)
EMOJI_PROMPT = "A café on Mars 🚀🌸 — «naïve» 東京 style"
METADATA = {
    "prompt": EMOJI_PROMPT,
    "model": "gpt-image-1-mini",
    "size": "1536x1024",
    "quality": "high",
    "provider": "offline",
}


def _image_bytes(
    fmt: str = "PNG", size: tuple[int, int] = (1536, 1024), mode: str = "RGB", **save: object
) -> bytes:
    image = Image.linear_gradient("L").resize(size).convert(mode)
    if mode == "RGBA":
        image.putalpha(Image.linear_gradient("L").resize(size).rotate(90))
    buffer = io.BytesIO()
    image.save(buffer, fmt, **save)
    return buffer.getvalue()


def _files(root: Path) -> list[Path]:
    """Every regular file under ``root`` (folders left behind are fine, files are not)."""
    return sorted(path for path in root.rglob("*") if path.is_file()) if root.exists() else []


@pytest.fixture
def store(tmp_path: Path) -> ImageStore:
    return ImageStore(tmp_path / "images")


def test_png_is_saved_by_id_under_year_and_month(store: ImageStore) -> None:
    data = _image_bytes()
    saved = store.save(42, data, "png", METADATA, CREATED)
    assert isinstance(saved, SavedImage)
    assert saved.path == store.root / "2026" / "11" / "42.png"
    assert saved.thumbnail_path == store.root / "2026" / "11" / "thumbs" / "42.png"
    assert (saved.width, saved.height) == (1536, 1024)
    assert saved.bytes_written == saved.path.stat().st_size
    assert _files(store.root) == [saved.path, saved.thumbnail_path]  # no temp files, no sidecar


def test_png_metadata_round_trips_with_unicode_prompt(store: ImageStore) -> None:
    saved = store.save(7, _image_bytes(), "png", METADATA, CREATED)
    expected = {**METADATA, "generation_id": "7", "created": CREATED.isoformat()}
    assert store.read_metadata(saved.path) == expected
    # Any PNG reader sees the same chunks.
    with Image.open(saved.path) as image:
        assert image.text["prompt"] == EMOJI_PROMPT


def test_png_pixels_are_unchanged(store: ImageStore) -> None:
    data = _image_bytes(mode="RGBA")
    saved = store.save(1, data, "png", METADATA, CREATED)
    with Image.open(io.BytesIO(data)) as original, Image.open(saved.path) as stored:
        assert stored.mode == original.mode
        assert stored.tobytes() == original.tobytes()


def test_long_unicode_prompt_is_stored_compressed_and_read_back(store: ImageStore) -> None:
    prompt = "🌊 vague " * 400
    saved = store.save(3, _image_bytes(), "png", {"prompt": prompt}, CREATED)
    assert store.read_metadata(saved.path)["prompt"] == prompt
    assert b"prompt\x00\x01\x00" in saved.path.read_bytes()  # iTXt, compressed


def test_existing_text_chunks_are_kept_and_our_keys_replace_theirs(store: ImageStore) -> None:
    info = PngImagePlugin.PngInfo()
    info.add_text("Comment", "OFFLINE placeholder")
    info.add_text("prompt", "stale")
    saved = store.save(5, _image_bytes(pnginfo=info), "png", {"prompt": "fresh"}, CREATED)
    with Image.open(saved.path) as image:
        image.load()
        assert image.text["Comment"] == "OFFLINE placeholder"
        assert image.text["prompt"] == "fresh"
    assert saved.path.read_bytes().count(b"prompt\x00") == 1


@pytest.mark.parametrize(
    ("fmt", "pil_format", "ext"), [("jpeg", "JPEG", "jpg"), ("webp", "WEBP", "webp")]
)
def test_jpeg_and_webp_keep_their_image_data_and_carry_metadata_inside(
    store: ImageStore, fmt: str, pil_format: str, ext: str
) -> None:
    data = _image_bytes(pil_format, size=(1024, 1536))
    saved = store.save(9, data, fmt, METADATA, CREATED)
    assert saved.path == store.root / "2026" / "11" / f"9.{ext}"
    with Image.open(io.BytesIO(data)) as original, Image.open(saved.path) as stored:
        assert stored.tobytes() == original.tobytes()  # never re-encoded (see test_metadata)
    assert store.read_metadata(saved.path)["prompt"] == EMOJI_PROMPT
    assert store.read_metadata(saved.path)["generation_id"] == "9"
    assert _files(store.root) == sorted([saved.path, saved.thumbnail_path])  # no sidecar
    assert not store.needs_sidecar(saved.path)


@pytest.mark.parametrize(
    ("size", "mode", "thumb_size", "thumb_mode"),
    [
        ((1536, 1024), "RGB", (256, 171), "RGB"),
        ((1024, 1536), "RGBA", (171, 256), "RGBA"),
        ((1024, 1024), "RGB", (256, 256), "RGB"),
        ((100, 60), "RGB", (100, 60), "RGB"),  # never enlarged
    ],
)
def test_thumbnail_is_256px_on_the_long_edge(
    store: ImageStore,
    size: tuple[int, int],
    mode: str,
    thumb_size: tuple[int, int],
    thumb_mode: str,
) -> None:
    saved = store.save(11, _image_bytes(size=size, mode=mode), "png", {}, CREATED)
    with Image.open(saved.thumbnail_path) as thumb:
        assert thumb.format == "PNG"
        assert thumb.size == thumb_size
        assert thumb.mode == thumb_mode


def test_bytes_decide_the_extension_when_the_label_is_wrong(store: ImageStore) -> None:
    saved = store.save(12, _image_bytes("JPEG"), "png", METADATA, CREATED)
    assert saved.path.suffix == ".jpg"
    assert store.read_metadata(saved.path)["model"] == METADATA["model"]


def test_corrupt_bytes_give_a_clear_error_and_no_files(store: ImageStore) -> None:
    with pytest.raises(GenerationError) as caught:
        store.save(13, b"\x89PNG\r\n\x1a\nnot really a png", "png", METADATA, CREATED)
    assert caught.value.kind is ErrorKind.FILESYSTEM
    assert "not a readable PNG, JPEG or WebP image" in str(caught.value)
    assert str(store.root / "2026" / "11") in str(caught.value)
    assert _files(store.root) == []


def test_truncated_image_is_rejected(store: ImageStore) -> None:
    data = _image_bytes()
    with pytest.raises(GenerationError) as caught:
        store.save(14, data[: len(data) // 2], "png", METADATA, CREATED)
    assert caught.value.kind is ErrorKind.FILESYSTEM
    assert _files(store.root) == []


def test_unknown_format_is_refused(store: ImageStore) -> None:
    with pytest.raises(GenerationError) as caught:
        store.save(15, _image_bytes(), "gif", METADATA, CREATED)
    assert caught.value.kind is ErrorKind.FILESYSTEM


def test_bad_metadata_key_is_a_programming_error(store: ImageStore) -> None:
    with pytest.raises(ValueError):
        store.save(16, _image_bytes(), "png", {"": "empty key"}, CREATED)
    assert _files(store.root) == []


def _chmod_blocks_writes(folder: Path) -> bool:
    """Root (and some file systems) ignore permission bits; find out rather than assume."""
    folder.mkdir(parents=True, exist_ok=True)
    folder.chmod(0o500)
    try:
        (folder / "probe").write_bytes(b"x")
    except PermissionError:
        return True
    finally:
        folder.chmod(0o700)
    (folder / "probe").unlink()
    return False


def test_read_only_folder_gives_permission_error(store: ImageStore, tmp_path: Path) -> None:
    if not _chmod_blocks_writes(tmp_path / "probe-folder"):
        pytest.skip("chmod does not stop writes here (running as root?)")
    store.root.mkdir(parents=True)
    store.root.chmod(0o500)
    try:
        with pytest.raises(GenerationError) as caught:
            store.save(17, _image_bytes(), "png", METADATA, CREATED)
        with pytest.raises(GenerationError):
            store.check_writable()
    finally:
        store.root.chmod(0o700)
    assert caught.value.kind is ErrorKind.FILESYSTEM
    assert "permission denied" in str(caught.value)
    assert "DALLETUI_HOME" in str(caught.value)
    assert _files(store.root) == []


def test_a_file_in_place_of_the_folder_gives_a_clear_error(store: ImageStore) -> None:
    store.root.mkdir(parents=True)
    blocker = store.root / "2026"
    blocker.write_bytes(b"I am a file")
    with pytest.raises(GenerationError) as caught:
        store.save(18, _image_bytes(), "png", METADATA, CREATED)
    message = str(caught.value)
    assert caught.value.kind is ErrorKind.FILESYSTEM
    assert message.startswith(f"Cannot write images to {store.root / '2026' / '11'}: ")
    assert f"{blocker} is a file, not a folder" in message
    assert _files(store.root) == [blocker]


def test_disk_full_leaves_no_temp_files(store: ImageStore, monkeypatch: pytest.MonkeyPatch) -> None:
    def full(fd: int) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "fsync", full)
    with pytest.raises(GenerationError) as caught:
        store.save(19, _image_bytes(), "png", METADATA, CREATED)
    assert caught.value.kind is ErrorKind.FILESYSTEM
    assert "the disk is full" in str(caught.value)
    assert str(store.root / "2026" / "11") in str(caught.value)
    assert _files(store.root) == []


def test_thumbnail_failure_removes_the_image_too(
    store: ImageStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_replace = os.replace

    def replace(src: str | Path, dst: str | Path) -> None:
        if Path(dst).parent.name == "thumbs":
            raise OSError(errno.ENOSPC, "No space left on device")
        real_replace(src, dst)

    monkeypatch.setattr(os, "replace", replace)
    with pytest.raises(GenerationError) as caught:
        store.save(20, _image_bytes("JPEG"), "jpeg", METADATA, CREATED)
    assert "the disk is full" in str(caught.value)
    assert _files(store.root) == []  # image, sidecar and temp thumbnail all gone


def test_delete_removes_everything_and_ignores_missing_files(store: ImageStore) -> None:
    saved = store.save(21, _image_bytes("WEBP"), "webp", METADATA, CREATED)
    store.delete(saved.path, saved.thumbnail_path)
    assert _files(store.root) == []
    store.delete(saved.path, saved.thumbnail_path)  # again: nothing to do, no error
    store.delete(store.root / "nowhere" / "1.png")


def test_check_writable_creates_the_root(store: ImageStore) -> None:
    store.check_writable()
    assert store.root.is_dir()
    assert _files(store.root) == []  # the probe is gone


def test_check_writable_names_a_blocking_file(tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.write_bytes(b"not a folder")
    with pytest.raises(GenerationError) as caught:
        ImageStore(home / "images").check_writable()
    assert caught.value.kind is ErrorKind.FILESYSTEM
    assert f"{home} is a file, not a folder" in str(caught.value)


def test_read_metadata_of_a_missing_file_is_a_clear_error(store: ImageStore) -> None:
    with pytest.raises(GenerationError) as caught:
        store.read_metadata(store.root / "2026" / "11" / "99.png")
    assert caught.value.kind is ErrorKind.FILESYSTEM
    assert "does not exist" in str(caught.value)


@pytest.mark.parametrize(
    ("code", "phrase"),
    [
        (errno.EACCES, "permission denied. Choose another folder with DALLETUI_HOME"),
        (errno.EROFS, "the file system is read-only"),
        (errno.ENOSPC, "the disk is full"),
    ],
)
def test_folder_creation_errors_are_explained(
    store: ImageStore, monkeypatch: pytest.MonkeyPatch, code: int, phrase: str
) -> None:
    def refuse(self: Path, *args: object, **kwargs: object) -> None:
        raise OSError(code, os.strerror(code), str(self))

    monkeypatch.setattr(Path, "mkdir", refuse)
    with pytest.raises(GenerationError) as caught:
        store.save(22, _image_bytes(), "png", METADATA, CREATED)
    assert str(caught.value).startswith(f"Cannot write images to {store.root / '2026' / '11'}: ")
    assert phrase in str(caught.value)
    with pytest.raises(GenerationError) as caught:
        store.check_writable()
    assert str(caught.value).startswith(f"Cannot write images to {store.root}: ")
    assert phrase in str(caught.value)
