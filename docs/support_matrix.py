"""Adds the native verifications of `hawkzoo doctor --json` reports to the package's record,
then writes docs/usage/support-matrix.md from the record.

    uv run python docs/support_matrix.py [REPORT.json ...]
"""

import json
import pathlib
import sys

from hawkzoo import backends

ROOT = pathlib.Path(__file__).parents[1]
PAGE = ROOT / "docs" / "usage" / "support-matrix.md"
RECORD = ROOT / "src" / "hawkzoo" / "backends" / "verified.json"


def entries(report: dict) -> list[dict]:
    """The record's entries for each backend the report verified natively."""
    keep = ("platform", "device_kind", "jax", "hawkzoo", "date")
    return [
        {"backend": b["name"], **{k: report[k] for k in keep}}
        | {"checks": [c["case"] for c in b["checks"] if c["outcome"] == "passed"]}
        for b in report["backends"]
        if b["native"] and b["verified"]
    ]


def main(reports: list[str]) -> None:
    record = json.loads(RECORD.read_text())
    for path in reports:
        for entry in entries(json.loads(pathlib.Path(path).read_text())):
            same = (entry["backend"], entry["device_kind"])
            record["entries"] = [
                e for e in record["entries"] if (e["backend"], e["device_kind"]) != same
            ] + [entry]
    record["entries"].sort(key=lambda e: (e["backend"], e["platform"], e["device_kind"]))
    RECORD.write_text(json.dumps(record, indent=1) + "\n")
    PAGE.write_text(backends.support_matrix())
    print(f"wrote {RECORD} and {PAGE}")


if __name__ == "__main__":
    main(sys.argv[1:])
