"""Tests for segdemo.files.zips (safe extraction of uploaded zips): every zip is made here, tiny."""

import io
import stat
import tempfile
import zipfile

import pytest
from PIL import Image

from segdemo import files
from segdemo.files import InputError


# ----------------------------------------------------------------------------- zips


@pytest.fixture
def temp_root(tmp_path, monkeypatch):
    """Point tempfile at a private folder so leftovers of extracted_zip can be seen."""
    root = tmp_path / "tmp"
    root.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(root))
    return root


def write_zip(path, entries, compression=zipfile.ZIP_DEFLATED):
    """entries: list of (name or ZipInfo, bytes); returns path."""
    with zipfile.ZipFile(path, "w", compression) as zf:
        for name, data in entries:
            zf.writestr(name, data)
    return path


def tree(folder):
    """All paths under folder, relative, sorted."""
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*"))


def assert_refused(zip_path, tmp_path, temp_root, match, **limits):
    """The zip is refused from its central directory alone (no entry is opened), both ways,
    and nothing is left anywhere."""
    before = tree(tmp_path)
    dest = tmp_path / "dest"

    def no_open(*args, **kwargs):
        raise AssertionError("an entry was opened before all entries were checked")

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(zipfile.ZipFile, "open", no_open)
        with pytest.raises(InputError, match=match) as info:
            files.safe_extract_zip(zip_path, dest, **limits)
        assert str(info.value).startswith(zip_path.name + ": ")
        assert not dest.exists() or tree(dest) == []
        with pytest.raises(InputError, match=match):
            with files.extracted_zip(zip_path, **limits):
                pass
    assert tree(temp_root) == []
    after = [p for p in tree(tmp_path) if p != "dest"]
    assert after == before


def test_good_zip_extracts(tmp_path, temp_root):
    buf = io.BytesIO()
    Image.new("RGB", (2, 2), (9, 8, 7)).save(buf, "PNG")
    zip_path = write_zip(tmp_path / "data.zip", [("data/images/a.png", buf.getvalue()),
                                                 ("data/masks/a.png", buf.getvalue()),
                                                 ("data/", b"")])
    dest = files.safe_extract_zip(zip_path, tmp_path / "out")
    assert tree(dest) == ["data", "data/images", "data/images/a.png", "data/masks",
                          "data/masks/a.png"]
    with files.extracted_zip(zip_path) as folder:
        assert folder.parent == temp_root
        pairs = files.pair_folders(folder / "data" / "images", folder / "data" / "masks").pairs
        assert files.read_image(pairs[0][0])[0, 0].tolist() == [9, 8, 7]
    assert tree(temp_root) == []


@pytest.mark.parametrize("name", ["../evil.txt", "data/../../evil.txt", "..\\evil.txt"])
def test_zip_parent_path_refused(tmp_path, temp_root, name):
    zip_path = write_zip(tmp_path / "up.zip", [("ok.txt", b"fine"), (name, b"x")])
    assert_refused(zip_path, tmp_path, temp_root, r"'\.\.' path component")


@pytest.mark.parametrize("name", ["/tmp/evil.txt", "C:/evil.txt"])
def test_zip_absolute_path_refused(tmp_path, temp_root, name):
    zip_path = write_zip(tmp_path / "abs.zip", [("ok.txt", b"fine"), (name, b"x")])
    assert_refused(zip_path, tmp_path, temp_root, "absolute path")


def test_zip_symlink_refused(tmp_path, temp_root):
    link = zipfile.ZipInfo("link")
    link.create_system = 3
    link.external_attr = (stat.S_IFLNK | 0o777) << 16
    zip_path = write_zip(tmp_path / "link.zip", [("ok.txt", b"fine"), (link, b"/etc/passwd")])
    assert_refused(zip_path, tmp_path, temp_root, "symbolic link")


def test_zip_encrypted_entry_refused(tmp_path, temp_root):
    zip_path = tmp_path / "secret.zip"
    with zipfile.ZipFile(zip_path, "w") as zf:
        zf.writestr("ok.txt", b"fine")
        zf.writestr("secret.txt", b"x")
        zf.getinfo("secret.txt").flag_bits |= 0x1  # written to the central directory on close
    assert zipfile.ZipFile(zip_path).getinfo("secret.txt").flag_bits & 0x1
    assert_refused(zip_path, tmp_path, temp_root,
                   r"entry 'secret\.txt' is encrypted \(password-protected zips")


def test_nested_zip_refused(tmp_path, temp_root):
    inner = write_zip(tmp_path / "inner.zip", [("a.txt", b"a")]).read_bytes()
    (tmp_path / "inner.zip").unlink()
    zip_path = write_zip(tmp_path / "outer.zip", [("ok.txt", b"fine"), ("inner.zip", inner)])
    assert_refused(zip_path, tmp_path, temp_root, "nested archives are not accepted")


def test_zip_bomb_entry_refused(tmp_path, temp_root):
    zip_path = write_zip(tmp_path / "bomb.zip", [("ok.txt", b"fine"),
                                                 ("zeros.bin", bytes(50_000_000))])
    assert zip_path.stat().st_size < 200_000
    assert_refused(zip_path, tmp_path, temp_root, r"entry 'zeros\.bin' expands .* zip bomb")


def test_zip_bomb_whole_archive_refused(tmp_path, temp_root):
    # every entry is under the per-entry threshold; the archive as a whole is a bomb
    entries = [(f"z{i:02d}.bin", bytes(600_000)) for i in range(20)]
    zip_path = write_zip(tmp_path / "many.zip", entries)
    assert_refused(zip_path, tmp_path, temp_root, r"^many\.zip: expands .* zip bomb")


def test_zip_total_size_limit(tmp_path, temp_root):
    zip_path = write_zip(tmp_path / "big.zip", [("a.bin", b"x" * 3000)], zipfile.ZIP_STORED)
    assert_refused(zip_path, tmp_path, temp_root, "over the limit", max_total_bytes=2000)


def test_zip_too_many_entries(tmp_path, temp_root):
    zip_path = write_zip(tmp_path / "lots.zip", [(f"{i}.txt", b"x") for i in range(6)])
    assert_refused(zip_path, tmp_path, temp_root, r"too many entries \(6, limit 5\)", max_files=5)


def test_zip_entry_larger_than_declared_stops(tmp_path, temp_root):
    # central directory says 10 bytes for an entry that inflates to 5000: stop while streaming
    zip_path = tmp_path / "liar.zip"
    with zipfile.ZipFile(zip_path, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("first.txt", b"fine")
        zf.writestr("liar.txt", b"y" * 5000)
        zf.getinfo("liar.txt").file_size = 10
    dest = tmp_path / "dest"
    with pytest.raises(InputError, match=r"^liar\.zip: entry 'liar\.txt'"):
        files.safe_extract_zip(zip_path, dest)
    assert not dest.exists() or tree(dest) == []


def test_not_a_zip(tmp_path, temp_root):
    path = tmp_path / "fake.zip"
    path.write_text("hello")
    with pytest.raises(InputError, match=r"^fake\.zip: not a zip file"):
        files.safe_extract_zip(path, tmp_path / "dest")
