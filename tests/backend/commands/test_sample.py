"""shapeprog sample: a labelled gallery of a library program, the same for the same seed; one-line errors."""

from __future__ import annotations

import numpy as np

from tests.fixtures.library import PROGRAMS_DIR


def test_sample_command_writes_a_labelled_gallery(tmp_path, capsys):
    from PIL import Image

    from backend.cli import main

    out = tmp_path / "g.png"
    assert main(["sample", "table", "-n", "3", "--seed", "5", "--tile", "96", "--columns", "3", "-o", str(out)]) == 0
    img = np.asarray(Image.open(out).convert("RGB"))
    assert img.shape[1] == 3 * 96 and (img < 128).any()
    again = tmp_path / "h.png"
    assert main(["sample", str(PROGRAMS_DIR / "table.json"), "-n", "3", "--seed", "5", "--tile", "96",
                 "--columns", "3", "-o", str(again)]) == 0
    assert np.array_equal(img, np.asarray(Image.open(again).convert("RGB")))  # same seed, same samples
    capsys.readouterr()
    assert main(["sample", "wardrobe", "-o", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("shapeprog sample: error:") and "chair" in err and "\n" not in err
    assert main(["sample", "chair", "-n", "0", "-o", str(out)]) == 2
