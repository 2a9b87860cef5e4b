#!/usr/bin/env python3
"""Why the fast inference path does not make training faster: the GEMMs of one training
step of an MLP layer (forward x W^T + b, backward g W and g^T x) on libtorch's default CPU
path (the system BLAS) and through oneDNN (mkldnn_linear, as the inference path runs
them), one thread, in microseconds per call; the oneDNN column with and without the
conversions between dense and oneDNN tensors that an autograd step would need.

  /usr/bin/python3 bench/gemm_paths.py [--batch 1024] [--widths 11,128,256]

Ratios within one run are the result (this machine is noisy).
"""
import argparse
import time

import torch


def per_call(f, n):
    f()
    t0 = time.perf_counter()
    for _ in range(n):
        f()
    return (time.perf_counter() - t0) / n * 1e6


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--batch", type=int, default=1024)
    ap.add_argument("--widths", default="11,128,256", help="layer widths (in = out) to time")
    ap.add_argument("--calls", type=int, default=200)
    a = ap.parse_args()
    torch.set_num_threads(1)
    torch.manual_seed(1)
    mk = torch._C._nn.mkldnn_linear
    print(f"batch {a.batch}, 1 thread, torch {torch.__version__}; us per call\n")
    print("| layer | GEMM | BLAS (default path) | oneDNN, tensors already converted | oneDNN incl. conversions |")
    print("|---|---|---|---|---|")
    for w in [int(v) for v in a.widths.split(",")]:
        x, W, b, g = torch.randn(a.batch, w), torch.randn(w, w), torch.randn(w), torch.randn(a.batch, w)
        Wt, gt, xt = W.t().contiguous(), g.t().contiguous(), x.t().contiguous()
        xm, Wm, bm, gm, Wtm, gtm, xtm = (t.to_mkldnn() for t in (x, W, b, g, Wt, gt, xt))
        rows = [
            ("forward x W^T + b", lambda: torch.nn.functional.linear(x, W, b), lambda: mk(xm, Wm, bm),
             lambda: mk(x.to_mkldnn(), W.to_mkldnn(), b.to_mkldnn()).to_dense()),
            ("backward g W", lambda: g.mm(W), lambda: mk(gm, Wtm),
             lambda: mk(g.to_mkldnn(), W.t().contiguous().to_mkldnn()).to_dense()),
            ("backward g^T x", lambda: g.t().mm(x), lambda: mk(gtm, xtm),
             lambda: mk(g.t().contiguous().to_mkldnn(), x.t().contiguous().to_mkldnn()).to_dense()),
        ]
        for name, blas, dnn, dnn_conv in rows:
            tb, td, tc = (per_call(f, a.calls) for f in (blas, dnn, dnn_conv))
            print(f"| {w}x{w} | {name} | {tb:.0f} | {td:.0f} ({tb / td:.2f}x) | {tc:.0f} ({tb / tc:.2f}x) |")


if __name__ == "__main__":
    main()
