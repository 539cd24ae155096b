"""The cohort report renders in a real headless Chromium, offline (no network access needed)."""

from __future__ import annotations

import shutil
import subprocess

import numpy as np
import pytest

from carpet.config import CohortConfig
from carpet.report import write_cohort_report
from carpet.survival import run_cohort_analysis
from carpet.synthetic.cohort import simulate_cohort


@pytest.mark.browser
@pytest.mark.slow
def test_report_renders_in_headless_chromium(tmp_path):
    exe = shutil.which("chromium") or shutil.which("chromium-browser")
    if exe is None:
        pytest.skip("chromium not installed (CI installs it: .ci/run)")
    clin, bio = simulate_cohort(50, seed=2)
    res = run_cohort_analysis(
        clin, bio, config=CohortConfig(bootstrap=10, permutations=10, simulated=True)
    )
    report = write_cohort_report(res, tmp_path / "out")
    shot = tmp_path / "shot.png"
    cmd = [
        exe,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        f"--user-data-dir={tmp_path / 'prof'}",
        f"--screenshot={shot}",
        "--window-size=1280,1400",
        report.as_uri(),
    ]
    subprocess.run(cmd, capture_output=True, timeout=120, check=False)
    assert shot.is_file(), "chromium wrote no screenshot"
    from PIL import Image

    img = np.asarray(Image.open(shot).convert("RGB")).astype(int)
    assert img.shape[:2] == (1400, 1280)
    # the red SIMULATED banner is at the top of the page
    red = (img[:120, :, 0] > 150) & (img[:120, :, 1] < 60) & (img[:120, :, 2] < 80)
    assert red.sum() > 5000
    # figures rendered (the page is far from blank below the header)
    assert (img[300:, :, :].std(axis=(0, 1)) > 20).all()
