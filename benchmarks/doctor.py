"""How long `hawkzoo doctor` takes here, against its budget: a minute on a CPU (interpreters
left out), two minutes on a GPU or TPU.

    uv run python benchmarks/doctor.py
"""

import argparse
import json
from pathlib import Path

from _common import environment
from hawkzoo import backends

BUDGET_S = {"cpu": 60, "gpu": 120, "tpu": 120}


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results"))
    args = parser.parse_args(argv)
    env = environment()
    report = backends.verify(cache=False)
    budget = BUDGET_S[report.platform]
    verdict = "within" if report.seconds <= budget else "OVER"
    table = (
        f"`hawkzoo doctor` on {report.device_kind} ({env['cpu_count']} CPUs), JAX {report.jax}: "
        f"{report.seconds:.1f} s, {verdict} its {budget} s budget.\n\n```\n{report.table()}\n```\n"
    )
    print(table)
    args.out.mkdir(parents=True, exist_ok=True)
    stem = args.out / f"doctor-{env['platform']}"
    record = {"environment": env, "budget_s": budget, "report": report.to_json()}
    stem.with_suffix(".json").write_text(json.dumps(record, indent=1))
    stem.with_suffix(".md").write_text(table)
    print(f"wrote {stem}.{{json,md}}")


if __name__ == "__main__":
    main()
