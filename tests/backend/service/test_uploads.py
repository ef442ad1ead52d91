"""Uploads: zip extraction refuses escapes, links and bombs."""

from __future__ import annotations

import io
import stat
import zipfile

import pytest


def test_zip_extraction_refuses_escapes_links_and_bombs(tmp_path):
    from backend.service.uploads import UploadError, extract_zip

    def zipped(*members, link: str | None = None) -> bytes:
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
            for name, data in members:
                zf.writestr(name, data)
            if link:
                info = zipfile.ZipInfo(link)
                info.external_attr = (stat.S_IFLNK | 0o777) << 16
                zf.writestr(info, "/etc/passwd")
        return buf.getvalue()

    extract_zip(zipped(("depth/0.png", b"x"), ("pose/0.txt", b"1")), tmp_path / "ok", "f", 10**6)
    assert (tmp_path / "ok" / "depth" / "0.png").read_bytes() == b"x"
    for members, link, what in [((("../evil", b"x"),), None, "'..'"), ((("/abs", b"x"),), None, "absolute"),
                                ((("a/../../evil", b"x"),), None, "'..'"), ((("c:/evil", b"x"),), None, "drive"),
                                ((), "link", "symbolic link")]:
        with pytest.raises(UploadError) as e:
            extract_zip(zipped(*members, link=link), tmp_path / "bad", "scan.frames_zip", 10**6)
        assert e.value.status == 422 and what in e.value.detail and e.value.detail.startswith("scan.frames_zip: ")
    with pytest.raises(UploadError) as e:
        extract_zip(zipped(("big", b"\0" * 2_000_000)), tmp_path / "bomb", "f", 1_000_000)
    assert e.value.status == 413
    with pytest.raises(UploadError) as e:
        extract_zip(b"not a zip", tmp_path / "nz", "f", 100)
    assert e.value.status == 422 and "not a zip file" in e.value.detail
    assert not (tmp_path / "evil").exists() and not (tmp_path.parent / "evil").exists()
