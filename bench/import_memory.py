"""Peak memory of an import fed junk: a 19 KB gzip holding 5M empty ``<x/>`` elements in an
OAI-PMH page (between records, and inside one record), against a normal OAI page of about the
same compressed size.

Each import runs in a fresh process (``import_paths``, as ``dailypapers import`` runs it, into a
new SQLite file); its own peak RSS (``VmHWM``) and its parsing child's (``getrusage``) are added
up, an upper bound of their simultaneous peak (pages shared after the fork count twice). Before the parsers
freed every element, the first junk page took ~650 MB in the child. Target: < 200 MB.
"""

from __future__ import annotations

import gzip
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _util import REPO, SHARED_DATA, headline

TARGET_MB = 200
JUNK = 5_000_000
HEAD = (b'<?xml version="1.0" encoding="UTF-8"?>\n'
        b'<OAI-PMH xmlns="http://www.openarchives.org/OAI/2.0/"><ListRecords>\n')
TAIL = b"<resumptionToken>next|1</resumptionToken></ListRecords></OAI-PMH>\n"

MEASURE = """
import resource, sys
from dailypapers.db.engine import make_engine
from dailypapers.db.migrate import upgrade
from dailypapers.ingest.files import import_paths

engine = make_engine(sys.argv[2])
upgrade(engine)
_, counts = import_paths(engine, [sys.argv[1]])
# Own peak from /proc: ru_maxrss would carry over the peak of whoever forked us, across exec.
own = next(int(line.split()[1]) for line in open("/proc/self/status") if line.startswith("VmHWM:"))
child = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
reason = counts.refusal_list[0].reason if counts.refusal_list else "-"
print(f"{own / 1024:.0f} {child / 1024:.0f} {counts.inserted} {counts.refused} {reason}")
"""


def record(arxiv_id: str, inner: bytes = b"") -> bytes:
    return (b"<record><header><identifier>oai:arXiv.org:" + arxiv_id.encode()
            + b'</identifier></header><metadata><arXiv xmlns="http://arxiv.org/OAI/arXiv/"><id>'
            + arxiv_id.encode() + b"</id><title>Paper " + arxiv_id.encode() + b"</title>"
            + inner + b"</arXiv></metadata></record>\n")


def junk_page(path: Path, inside_record: bool) -> Path:
    with gzip.open(path, "wb", compresslevel=9) as gz:
        gz.write(HEAD + record("0704.0001"))
        if inside_record:
            gz.write(record("0704.0002").split(b"</arXiv>")[0])
        chunk = b"<x/>" * 100_000
        for _ in range(JUNK // 100_000):
            gz.write(chunk)
        if inside_record:
            gz.write(b"</arXiv></metadata></record>\n")
        gz.write(record("0704.0003") + TAIL)
    return path


def normal_page(path: Path, size: int) -> Path:
    """The first records of a real OAI page, as many as fit in about ``size`` gzipped bytes."""
    text = gzip.decompress((SHARED_DATA / "arxiv" / "oai-pmh-cs-2016"
                            / "listrecords-001.xml.gz").read_bytes())
    head, _, rest = text.partition(b"<record>")
    records = [b"<record>" + r for r in rest.split(b"<record>")]
    records[-1] = records[-1].split(b"</ListRecords>")[0]
    count = 1
    while count < len(records) and len(gzip.compress(
            head + b"".join(records[:count + 1]), 9)) <= size:
        count += 1
    path.write_bytes(gzip.compress(head + b"".join(records[:count]) + b"</ListRecords>"
                                   b"</OAI-PMH>\n", 9))
    return path


def measure(path: Path, workdir: Path) -> tuple[float, float, str]:
    db = workdir / f"{path.stem}.sqlite3"
    started = time.perf_counter()
    out = subprocess.run(
        [sys.executable, "-c", MEASURE, str(path), f"sqlite:///{db}"],
        env={**os.environ, "PYTHONPATH": str(REPO)}, capture_output=True, text=True,
        check=True,
    ).stdout.split(maxsplit=4)
    parent, child = float(out[0]), float(out[1])
    seconds = time.perf_counter() - started
    print(f"{path.name:<22} {path.stat().st_size / 1024:6.1f} KB gz  parent {parent:4.0f} MB  "
          f"child {child:4.0f} MB  sum {parent + child:4.0f} MB  {seconds:5.1f} s  "
          f"{out[2]} inserted, {out[3]} refused ({out[4].strip()})")
    return parent, child, out[4]


def main() -> None:
    workdir = Path(tempfile.mkdtemp(prefix="dp-import-memory-"))
    outside = junk_page(workdir / "junk-between.xml.gz", inside_record=False)
    inside = junk_page(workdir / "junk-in-record.xml.gz", inside_record=True)
    normal = normal_page(workdir / "normal.xml.gz", outside.stat().st_size)
    base_parent, base_child, _ = measure(normal, workdir)
    peaks = []
    for path in (outside, inside):
        parent, child, reason = measure(path, workdir)
        assert "refused" in reason, f"{path.name} was not refused"
        peaks.append(parent + child)
    print(f"baseline (normal page): {base_parent + base_child:.0f} MB; junk adds at most "
          f"{max(peaks) - base_parent - base_child:+.0f} MB")
    peak = max(peaks)
    headline("import_junk_peak_rss", peak, "MB", f"< {TARGET_MB} MB", peak < TARGET_MB)


if __name__ == "__main__":
    main()
