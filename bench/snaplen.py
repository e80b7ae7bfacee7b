"""What a short snapshot costs the application protocols: every capture in tests/data cut
at each snapshot length (``editcap -s``), counted headless, and each TCP/UDP conversation's
``app_protocol`` compared with the uncut file's. The counts themselves never change (they
use the length on the wire); only what tshark can name from the first packets may.

    python -m bench.snaplen [LENGTH ...]      (default: 128 256 512 1600)
"""

from __future__ import annotations

import csv
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TUIMON = str(ROOT / ".venv" / "bin" / "tuimon")
DATA = ROOT / "tests" / "data"
KEY = ("protocol", "address_a", "port_a", "address_b", "port_b", "first_seen")


def conversations(pcap: Path, out: Path) -> dict:
    subprocess.run([TUIMON, "-r", str(pcap), "--no-ui", "--flow-timeout", "0", "--csv", str(out)],
                   check=True, capture_output=True, timeout=600)
    with open(out / "conversations.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    return {tuple(r[k] for k in KEY): (r["app_protocol"], r["app_source"], r["packets_a_to_b"],
                                       r["bytes_a_to_b"])
            for r in rows if r["protocol"] in ("tcp", "udp")}


def compare(lengths: list[int]) -> list[dict]:
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        full = {}
        for pcap in sorted(DATA.glob("*.pcap*")):
            full[pcap.name] = conversations(pcap, tmp / f"full-{pcap.name}")
        for length in lengths:
            same = differ = named_full = named_cut = 0
            counts_equal = True
            skipped: set[str] = set()
            for pcap in sorted(DATA.glob("*.pcap*")):
                cut = tmp / f"cut{length}-{pcap.name}"
                if subprocess.run(["editcap", "-s", str(length), str(pcap), str(cut)],
                                  capture_output=True).returncode:
                    skipped.add(pcap.name)  # damaged on purpose: editcap will not cut it
                    continue
                got = conversations(cut, tmp / f"out{length}-{pcap.name}")
                for key, (app, src, pk, by) in full[pcap.name].items():
                    c_app, c_src, c_pk, c_by = got.get(key, ("", "", None, None))
                    counts_equal &= (pk, by) == (c_pk, c_by)
                    named_full += src == "dissector"
                    named_cut += c_src == "dissector"
                    if app == c_app:
                        same += 1
                    else:
                        differ += 1
            total = same + differ
            results.append({"snaplen": length, "conversations": total, "same_app": same,
                            "differ": differ, "same_pct": round(100 * same / total, 2),
                            "dissector_full": named_full, "dissector_cut": named_cut,
                            "counts_equal": counts_equal, "not_cut": sorted(skipped)})
    return results


def main() -> None:
    lengths = [int(a) for a in sys.argv[1:]] or [128, 256, 512, 1600]
    for r in compare(lengths):
        print(r)


if __name__ == "__main__":
    main()
