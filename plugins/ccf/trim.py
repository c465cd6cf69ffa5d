#!/usr/bin/env python3
"""Writes data/*.csv from a checkout of cloud-carbon-footprint/ccf-coefficients: the columns the
plugin reads, nothing else, so the component stays small.

    python3 plugins/ccf/trim.py PATH/TO/ccf-coefficients/output

Each output keeps the source's file name and header names. Two rewrites, both lossless: the
Teads figures' decimal commas ("0,29") become points, and "N/A" becomes an empty field; no
value is left quoted, so the plugin splits lines on commas. Azure's embodied table has one row
per (type, microarchitecture) with the same total: one row per type is kept (checked)."""

import csv
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
LOADS = ["Idle", "10%", "50%", "100%"]

FILES = {
    "aws-instances.csv": ["Instance type", "Instance vCPU", "Platform Total Number of vCPU",
                          "Instance Memory (in GB)", "Instance Number of GPU", "Platform GPU Name"]
    + [f"{part} @ {load}" for part in ("PkgWatt", "RAMWatt", "GPUWatt") for load in LOADS]
    + ["Delta Full Machine"],
    "coefficients-aws-embodied.csv": ["type", "total"],
    "coefficients-aws-use.csv": ["Architecture", "Min Watts", "Max Watts", "GB/Chip"],
    "gcp-instances.csv": ["Machine type", "Microarchitecture", "Instance vCPUs", "Instance Memory",
                          "Platform vCPUs (highest vCPU possible)", "Platform Memory",
                          "Instance GPUs"],
    "coefficients-gcp-embodied-mean.csv": ["type", "total_mean"],
    "coefficients-gcp-use.csv": ["Architecture", "Min Watts", "Max Watts", "GB/Chip"],
    "azure-instances.csv": ["Virtual Machine", "Microarchitecture", "Instance vCPUs",
                            "Instance Memory", "Platform vCPUs (highest vCPU possible)",
                            "Platform Memory", "Instance GPUs"],
    "coefficients-azure-embodied.csv": ["type", "total"],
    "coefficients-azure-use.csv": ["Architecture", "Min Watts", "Max Watts", "GB/Chip"],
}


def clean(value, teads):
    value = value.strip()
    if value == "N/A":
        return ""
    if teads and "," in value:
        value = value.replace(",", ".")
    if "," in value or '"' in value:
        sys.exit(f"a value holds a comma or a quote after trimming: {value!r}")
    return value


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    source = sys.argv[1]
    for name, columns in FILES.items():
        with open(os.path.join(source, name), newline="") as f:
            rows = list(csv.DictReader(f))
        out, seen = [], {}
        for row in rows:
            values = [clean(row[c], name == "aws-instances.csv") for c in columns]
            if name == "coefficients-azure-embodied.csv":
                if values[0] in seen:
                    if seen[values[0]] != values[1]:
                        sys.exit(f"{name}: {values[0]} has two totals")
                    continue
                seen[values[0]] = values[1]
            out.append(",".join(values))
        with open(os.path.join(HERE, "data", name), "w") as f:
            f.write(",".join(columns) + "\n" + "\n".join(out) + "\n")


if __name__ == "__main__":
    main()
