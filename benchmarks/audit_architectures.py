"""The README's table of real architectures: audit verdict, periods, scores before and
after ``cs.fix``, and how long each audit takes.

For every entry of ``checkerscope.zoo.ARCHITECTURES`` (random init, the native-like example
input): ``cs.audit(model, x, seeds=SEEDS)``, then for models with something to replace
``cs.fix(model, example_input=x)`` and the audit of the fixed model, scored at the period
that led before. The score is the init score (generators, decoders, image-to-image) or the
input-gradient score (discriminators, encoders). Times are wall-clock seconds of one
``cs.audit`` call on one thread, with the machine's load printed beside them: they are
only comparable within one run.

    .venv/bin/python benchmarks/audit_architectures.py [--seeds 4] [--markdown]
"""

from __future__ import annotations

import argparse
import os
import resource
import time
import warnings

import torch

import checkerscope as cs
from checkerscope import zoo
from checkerscope.auditing.probes import Probe


def _score(report: cs.AuditReport) -> Probe | None:
    return report.init_score or report.grad_score


def _periods(report: cs.AuditReport) -> str:
    return ", ".join(map(str, report.periods)) or "-"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=4)
    parser.add_argument("--markdown", action="store_true", help="only the table, as markdown")
    args = parser.parse_args()
    torch.set_num_threads(1)
    warnings.simplefilter("ignore")
    load = ", ".join(f"{v:.2f}" for v in os.getloadavg())
    print(f"torch threads 1, seeds {args.seeds}, load average at start {load}\n")
    print("| model | verdict | periods | worst path | probe | before | after `fix` | audit |")
    print("|---|---|---|---|---|---:|---:|---:|")
    slowest = 0.0
    for name, entry in zoo.ARCHITECTURES.items():
        torch.manual_seed(0)  # gradient probes and layers without reset_parameters use these
        model, example = entry.build(), entry.example_input()
        started = time.perf_counter()
        report = cs.audit(model, example, seeds=args.seeds)
        seconds = time.perf_counter() - started
        slowest = max(slowest, seconds)
        score = _score(report)
        lead = report.paths[0] if report.paths else None
        if lead is None or lead.unevenness == 1:
            leading = "even"
        else:
            arrow = "output" if lead.direction == "forward" else "input"
            leading = f"{arrow} period {max(lead.period)}, {lead.unevenness:.4g}:1"
        label = "-" if score is None else ("init" if score is report.init_score else "gradient")
        before = "-" if score is None else f"{score.median_db:+.1f} dB (p{score.period})"
        after = "-"
        expected = entry.expected
        if score is not None and expected is not None and expected.fix:
            fixed = cs.fix(model, example_input=example)
            fixed_score = _score(cs.audit(fixed, example, seeds=args.seeds))
            if fixed_score is not None:
                after = f"{fixed_score.db_by_period[score.period]:+.1f} dB"
        print(
            f"| `{name}` | {report.verdict} | {_periods(report)} | {leading} | {label} | "
            f"{before} | {after} | {seconds:.2f} s |",
            flush=True,
        )
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    load = ", ".join(f"{v:.2f}" for v in os.getloadavg())
    print(f"\nslowest audit {slowest:.2f} s; peak RSS {peak:.0f} MB; load average at end {load}")


if __name__ == "__main__":
    main()
