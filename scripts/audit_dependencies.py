"""Audit the installed packages for known vulnerabilities with pip-audit, and say how many it could check.

pip-audit asks the PyPI JSON API (or OSV) about each package and skips the ones
it cannot ask about; a run that skipped every package still prints "No known
vulnerabilities found". This script runs it, fails on any vulnerability found,
reports the coverage, and with ``--min-coverage`` also fails when too few
packages could be checked (use 1.0 where pypi.org's JSON API is reachable).

    python scripts/audit_dependencies.py [--min-coverage 1.0] [--out test-results/dependency-audit.json]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from collections import Counter
from pathlib import Path


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--min-coverage", type=float, default=0.0, help="share of packages that must be checked")
    parser.add_argument("--out", type=Path, default=Path("test-results/dependency-audit.json"))
    args = parser.parse_args()

    run = subprocess.run(
        [sys.executable, "-m", "pip_audit", "--progress-spinner", "off", "--format", "json"],
        capture_output=True,
        text=True,
    )
    try:
        report = json.loads(run.stdout)
    except json.JSONDecodeError:
        print(f"pip-audit did not produce a report (exit {run.returncode}):\n{run.stderr[-2000:]}", file=sys.stderr)
        return 2
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2))

    packages = report["dependencies"]
    checked = [p for p in packages if "skip_reason" not in p]
    vulnerable = [p for p in checked if p.get("vulns")]
    reasons = Counter(p["skip_reason"].split(":")[0] for p in packages if "skip_reason" in p)
    coverage = len(checked) / len(packages) if packages else 1.0
    print(f"dependency audit: {len(checked)} of {len(packages)} packages checked ({coverage:.0%})")
    for reason, count in reasons.most_common():
        print(f"  skipped {count}: {reason}")
    for package in vulnerable:
        ids = ", ".join(v["id"] for v in package["vulns"])
        print(f"  VULNERABLE {package['name']} {package['version']}: {ids}")
    print(f"  {len(vulnerable)} vulnerable; report in {args.out}")
    if vulnerable:
        return 1
    if coverage < args.min_coverage:
        print(f"  coverage {coverage:.0%} is below --min-coverage {args.min_coverage:.0%}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
