"""How close training comes to the machine: GFLOP/s of the training step against the CPU's own matrix multiply, in one run.

    python benchmarks/train_flops.py [DATA_ROOT] [--precision auto] [--batches 20] [--epochs 30]

Issue 23, goal 1: the default real-data training in 5 minutes on 2 cores, with bf16 and without (`--precision fp32`, or
`ONEDNN_MAX_CPU_ISA=AVX2 ATEN_CPU_CAPABILITY=avx2 MKL_ENABLE_INSTRUCTIONS=AVX2` for an AVX2-only CPU's kernels). For the default config it prints:
the FLOPs of a training step per image (forward and backward, counted by `torch.utils.flop_counter`); the model step
alone on random batches (forward, backward, AdamW) and a whole training epoch as `python -m defect_qc.train` runs it
(cached crops, augmentation, fastai, EMA, PreciseBN, validation), each in images/s and GFLOP/s; the machine's own
float32 (and, where the CPU computes it natively, bfloat16) matrix multiply in GFLOP/s on all cores; the operators the
model step spends its time in; and what the default run costs at that speed against the goal.
Uses the real data when given (or found in ../shared), else the demo data.
"""
import argparse, os, tempfile, time
from contextlib import nullcontext

import torch

def matmul_gflops(dtype, n=2048, reps=10):
    "GFLOP/s of an `n` x `n` matrix multiply in `dtype` on all threads (best of `reps`)."
    a, b = torch.randn(n, n).to(dtype), torch.randn(n, n).to(dtype)
    for _ in range(2): a @ b
    best = min(_timed(lambda: a @ b) for _ in range(reps))
    return 2*n**3/best/1e9

def _timed(f):
    t = time.perf_counter(); f(); return time.perf_counter() - t

def autocast(precision):
    return torch.autocast('cpu', dtype=torch.bfloat16) if precision == 'bf16' else nullcontext()

def step_flops(model, x, y, loss_func, precision):
    "FLOPs of one training step (forward, loss, backward) on batch `x`, and the FLOPs by module (forward and backward)."
    from torch.utils.flop_counter import FlopCounterMode
    with FlopCounterMode(display=False) as fc:
        with autocast(precision): loss = loss_func(model(x).float(), y)
        loss.backward()
    model.zero_grad(set_to_none=True)
    return fc.get_total_flops(), fc.get_flop_counts()

def block_names(model, x):
    "`{index: 'conv 24->24 3x3/1 -> 48 px'}` for the model's top-level blocks, from one forward pass with hooks."
    out, hooks = {}, []
    for i, m in enumerate(model.children()):
        conv = next((c for c in m.modules() if isinstance(c, torch.nn.Conv2d)), None)
        if conv is None: continue
        d = f"conv {conv.in_channels}->{conv.out_channels} {conv.kernel_size[0]}x{conv.kernel_size[1]}/{conv.stride[0]}"
        hooks.append(m.register_forward_hook(lambda mod, inp, o, i=i, d=d: out.__setitem__(str(i), f"{d} -> {o.shape[-1]} px")))
    with torch.no_grad(): model(x[:1])
    for h in hooks: h.remove()
    return out

def model_step(model, x, y, loss_func, precision, n):
    "Images/s of `n` training steps (forward, loss, backward, AdamW) on the same batch, after two warm-up steps; and a profile of two more."
    opt = torch.optim.AdamW(model.parameters(), 1e-3, weight_decay=0.01)
    def step():
        with autocast(precision): loss = loss_func(model(x).float(), y)
        opt.zero_grad(set_to_none=True); loss.backward(); opt.step()
    for _ in range(2): step()
    t = time.perf_counter()
    for _ in range(n): step()
    ips = n*len(x)/(time.perf_counter() - t)
    from torch.profiler import ProfilerActivity, profile
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        for _ in range(2): step()
    return ips, prof

def training_epoch(root, cfg, tmp):
    "One epoch as training runs it (`make_learner` and `fit_callbacks`): (training images/s, the epoch's wall time in s, dls)."
    from defect_qc.callbacks import ValidateFrom
    from defect_qc.train import dls_from_config, fit_callbacks, make_learner
    from train_speed import train_timer   # this folder is on the path when the script runs
    dls = dls_from_config(cfg, root, device='cpu', verbose=False)
    learn, timer = make_learner(dls, cfg, tmp), train_timer()
    with learn.no_bar(), learn.no_logging():
        cbs = [c for c in fit_callbacks(cfg) if not isinstance(c, ValidateFrom)]   # the epoch validated, as the run's second half is
        t = time.perf_counter(); learn.fit(1, cfg.lr, cbs=[timer, *cbs]); wall = time.perf_counter() - t
    return timer.ips, wall, dls

def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('root', nargs='?', help='data root (default: $DEFECT_QC_REAL_DATA or ../shared/data/casting_data if present, else demo data)')
    ap.add_argument('--precision', default='auto', help='auto, fp32 or bf16 (auto: bf16 where the CPU computes it natively)')
    ap.add_argument('--batches', type=int, default=20, help='timed model steps')
    ap.add_argument('--fixed-cost', type=float, default=16., help="seconds of a warm run outside its epochs, from benchmarks/fixed_cost.py "
                    "(10.4 on the Intel Xeon, 15.9-16.6 on the AMD EPYC)")
    ap.add_argument('--epochs', type=int, default=None, help="epochs of the default run for the estimate (default: the config's num_epochs)")
    ap.add_argument('--cache-dir', default=None)
    a = ap.parse_args()
    from defect_qc.config import load_config
    from defect_qc.fixtures import real_data_root
    from defect_qc.models import create_model
    from defect_qc.config import arch_kwargs
    from defect_qc.train import cpu_has_bf16, resolve_precision
    from fastai.losses import CrossEntropyLossFlat
    root = a.root or real_data_root()
    if root is None:
        from defect_qc.synth import demo_data
        root = demo_data(); print(f"(demo data: {root})")
    cfg = load_config([f'precision={a.precision}', *([f'data.cache_dir={a.cache_dir}'] if a.cache_dir else [])])
    prec, S, bs = resolve_precision(cfg.precision, 'cpu'), cfg.data.img_size, cfg.batch_size
    n_ch = 3 if cfg.data.image_mode == 'RGB' else 1
    print(f"data: {root}; {S} px, batch {bs}, precision {prec} (asked: {a.precision}), {torch.get_num_threads()} threads; "
          f"native bf16: {cpu_has_bf16()}; oneDNN ISA {torch.backends.cpu.get_cpu_capability()}")

    torch.manual_seed(0)
    model = create_model(cfg.model.arch, n_ch, 2, cfg.model.weights, **arch_kwargs(cfg)).to(memory_format=torch.channels_last).train()
    x = torch.randn(bs, n_ch, S, S).contiguous(memory_format=torch.channels_last)
    y, loss_func = torch.randint(0, 2, (bs,)), CrossEntropyLossFlat()
    flops, by_module = step_flops(model, x, y, loss_func, prec)
    per_img = flops/bs
    ips_model, prof = model_step(model, x, y, loss_func, prec, a.batches)

    with tempfile.TemporaryDirectory() as tmp: ips_train, epoch_s, dls = training_epoch(root, cfg, tmp)
    peak32 = matmul_gflops(torch.float32)
    peak16 = matmul_gflops(torch.bfloat16) if cpu_has_bf16() else None
    peak = peak16 if prec == 'bf16' and peak16 else peak32

    print(f"\ntraining step: {per_img/1e9:.2f} GFLOP per image (forward + backward; convolutions and linear layers)")
    print(f"machine: matrix multiply 2048 x 2048, all threads: float32 {peak32:,.0f} GFLOP/s"
          + (f", bfloat16 {peak16:,.0f} GFLOP/s" if peak16 else ", bfloat16 not native here"))
    if os.environ.get('ONEDNN_MAX_CPU_ISA') and not os.environ.get('MKL_ENABLE_INSTRUCTIONS'):
        print("  (ONEDNN_MAX_CPU_ISA keeps the convolutions to that ISA, not MKL's matrix multiply: set MKL_ENABLE_INSTRUCTIONS too, e.g. AVX2)")
    b16 = prec == 'bf16' and peak16
    print(f"\n| | images/s | GFLOP/s | share of the float32 matrix multiply |{' share of the bfloat16 one |' if b16 else ''}\n|---|---:|---:|---:|{'---:|' if b16 else ''}")
    for name, ips in (('model step alone (random batch, AdamW)', ips_model), ('training epoch, training phase (data, augmentation, fastai, EMA)', ips_train)):
        g = ips*per_img/1e9
        print(f"| {name} | {ips:,.0f} | {g:,.0f} | {g/peak32:.0%} |{f' {g/peak16:.0%} |' if b16 else ''}")

    names = block_names(model, x)
    top = sorted(((k, v) for k, v in by_module.items() if k.count('.') == 1 and k != 'Global'), key=lambda kv: -sum(kv[1].values()))[:6]
    print("\nFLOPs by block (share of the step): " + ", ".join(f"{names.get(k.split('.', 1)[1], k)} {sum(v.values())/flops:.0%}" for k, v in top))
    ev = [e for e in prof.key_averages() if e.self_cpu_time_total > 0]
    tot = sum(e.self_cpu_time_total for e in ev)
    print("model step's time by operator (self CPU time, two steps): " +
          ", ".join(f"{e.key} {e.self_cpu_time_total/tot:.0%}" for e in sorted(ev, key=lambda e: -e.self_cpu_time_total)[:8]))
    conv_us = sum(e.self_cpu_time_total for e in ev if 'convolution' in e.key or e.key in ('aten::addmm', 'aten::mm'))
    bn_us = sum(e.self_cpu_time_total for e in ev if 'batch_norm' in e.key or e.key in ('aten::threshold_backward', 'aten::clamp_min_', 'aten::relu_'))
    print(f"the convolutions (and the linear head) take {conv_us/tot:.0%} of the step and run at {2*flops/(conv_us*1e-6)/1e9:,.0f} GFLOP/s "
          f"({2*flops/(conv_us*1e-6)/1e9/peak:.0%} of the {prec} matrix multiply); BatchNorm and ReLU, with no FLOPs counted, take {bn_us/tot:.0%}")

    from defect_qc.train import validation_start
    n_ep = a.epochs or cfg.num_epochs
    start = validation_start(load_config([f'num_epochs={n_ep}']))
    n_tr, n_va, train_s = dls.info['n_train'], dls.info['n_valid'], dls.info['n_train']/ips_train
    run_s = n_ep*train_s + (n_ep - start)*(epoch_s - train_s)   # the epochs before `start` train without validating
    print(f"\nwhole epoch as training runs it ({n_tr} training + {n_va} validation photos, PreciseBN, EMA): {epoch_s:.1f} s; "
          f"training phase {train_s:.1f} s, the rest {epoch_s - train_s:.1f} s")
    print(f"default run: {n_ep} epochs x {train_s:.1f} s of training + {n_ep - start} validated x {epoch_s - train_s:.1f} s "
          f"(checkpoint.validate_from) = {run_s/60:.1f} min of epochs, plus the fixed cost "
          f"({a.fixed_cost:.0f} s, --fixed-cost); goal 5 min: {'met' if run_s + a.fixed_cost <= 300 else 'not met'}. "
          f"At the model step's own speed the epochs would take {(n_ep*n_tr + (n_ep - start)*n_va/3)/ips_model/60:.1f} min "
          f"(validation counted as a third of a training image); at the whole {prec} matrix-multiply peak "
          f"{(n_ep*n_tr + (n_ep - start)*n_va/3)*per_img/(peak*1e9)/60:.1f} min")

if __name__ == '__main__': main()
