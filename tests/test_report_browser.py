"""The report opens in a real headless Chromium, which renders every plot (marked `browser`).

Runs when Debian's `chromium` is installed (scripts/test.sh installs it on CI); otherwise it is
skipped with that reason. Chromium runs with its network features off and a fresh profile.
"""

from __future__ import annotations

import shutil
import subprocess

import pytest

from sluice.curate.ingest import ingest
from sluice.recipe import Recipe
from sluice.report import write_report
from sluice.runner import run

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"]

# Counts, in the rendered DOM, the <img> elements whose image loaded (naturalWidth > 0).
PROBE = """<script>
window.addEventListener('load', () => {
  const imgs = [...document.querySelectorAll('figure[data-plot] img')];
  const ok = imgs.filter(i => i.complete && i.naturalWidth > 0).map(i => i.closest('figure').dataset.plot);
  document.title = 'loaded:' + ok.sort().join(',');
});
</script></body>"""


@pytest.mark.browser
@pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is not installed (apt-get install chromium)")
def test_report_renders_every_plot_in_chromium(store, sample_logs, tmp_path):
    ingest([str(sample_logs)], to="raw", store=store, workers=1)
    stages = Recipe(stages=[{"stage": "length"}, {"stage": "length_filter"}]).build()
    page = write_report(run(Recipe(), stages, store=store, input_ref="raw", output="cur").version)
    plots = sorted(p.stem for p in page.parent.glob("*.png"))
    probe = page.with_name("probe.html")
    probe.write_text(page.read_text().replace("</body>", PROBE))
    profile = tmp_path / "profile"
    dom = subprocess.run([CHROMIUM, *FLAGS, f"--user-data-dir={profile}", "--virtual-time-budget=5000",
                          "--dump-dom", probe.as_uri()], capture_output=True, text=True, timeout=120)
    assert f"<title>loaded:{','.join(plots)}</title>" in dom.stdout, dom.stderr[-2000:]
    shot = tmp_path / "report.png"
    subprocess.run([CHROMIUM, *FLAGS, f"--user-data-dir={profile}", "--window-size=1200,2400",
                    f"--screenshot={shot}", page.as_uri()], capture_output=True, timeout=120, check=True)
    assert shot.read_bytes().startswith(b"\x89PNG") and shot.stat().st_size > 20_000
