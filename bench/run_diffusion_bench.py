#!/usr/bin/env python3
"""Runs bench_diffusion with interleaved repetitions and prints the ratios of medians:
  step ratio      = simfuse time step / PETSc-only time step   (goal <= 1.05)
  bandwidth share = MatMult bytes/s / STREAM triad bytes/s      (goal >= 0.8)
Usage: run_diffusion_bench.py BUILD_DIR [-n 1025] [--repetitions 7]
"""
import argparse
import json
import statistics
import subprocess
import sys


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("build")
    ap.add_argument("-n", type=int, default=1025)
    ap.add_argument("--repetitions", type=int, default=7)
    a = ap.parse_args()
    cmd = [f"{a.build}/bench/bench_diffusion", f"--benchmark_repetitions={a.repetitions}",
           "--benchmark_enable_random_interleaving=true", "--benchmark_format=json",
           "--benchmark_report_aggregates_only=false", "-n", str(a.n)]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    runs = [b for b in json.loads(out)["benchmarks"] if b.get("run_type") == "iteration"]

    def values(name, key):
        return [b[key] for b in runs if b["run_name"].startswith(name)]

    step_petsc = statistics.median(values("BM_Step_PETSc", "real_time"))
    step_sf = statistics.median(values("BM_Step_simfuse", "real_time"))
    its = (values("BM_Step_PETSc", "ksp_its")[-1], values("BM_Step_simfuse", "ksp_its")[-1])
    bw_mat = statistics.median(values("BM_MatMult", "bytes_per_second"))
    bw_triad = statistics.median(values("BM_StreamTriad", "bytes_per_second"))
    print(f"grid {a.n}^2, {a.repetitions} interleaved repetitions (medians)")
    print(f"| time step, PETSc-only program | {step_petsc:.1f} ms | {its[0]:.0f} KSP its |")
    print(f"| time step, simfuse            | {step_sf:.1f} ms | {its[1]:.0f} KSP its |")
    print(f"| ratio simfuse / PETSc         | {step_sf / step_petsc:.3f} | goal <= 1.05 |")
    print(f"| MatMult bandwidth             | {bw_mat / 1e9:.2f} GB/s | |")
    print(f"| STREAM triad bandwidth        | {bw_triad / 1e9:.2f} GB/s | |")
    print(f"| MatMult / triad               | {bw_mat / bw_triad:.3f} | goal >= 0.8 |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
