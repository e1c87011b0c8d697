"""Training throughput: our pipeline vs a naive PyTorch baseline, measured in the same run.

    python benchmarks/train_speed.py [DATA_ROOT] [--size 128] [--baseline-batches 16]

Ours: the default training config: cached uint8 tensors gathered a batch at a time (`casting_dls`), batch augmentation,
`DefectCNN` in channels_last, `precision=auto` (bfloat16 on a CPU with native bf16), fastai `Learner`
(one epoch over train/, timed from the second to the last training batch).
Naive baseline, as a first-time user writes it: a per-item PIL `Dataset` decoding each JPEG every time, torchvision
transforms (resize, flip, rotation, colour jitter, ToTensor, Normalize), a `DataLoader` with 2 workers and a plain CNN
(3x3 convs at full resolution + max-pooling, NCHW), in a plain PyTorch loop.
Prints images/second for both and the ratio. Uses the real data when given (or found in ../shared), else the demo data.
"""
import argparse, time
from pathlib import Path

import torch, torch.nn as nn, torch.nn.functional as F
from PIL import Image

REPO = Path(__file__).resolve().parents[1]

def naive_cnn(n_in=3, n_out=2):
    c = lambda ni, nf: [nn.Conv2d(ni, nf, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2)]
    return nn.Sequential(*c(n_in, 32), *c(32, 64), *c(64, 128), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(128, n_out))

class NaiveDataset(torch.utils.data.Dataset):
    def __init__(self, paths, labels, tfm): self.paths, self.labels, self.tfm = paths, labels, tfm
    def __len__(self): return len(self.paths)
    def __getitem__(self, i): return self.tfm(Image.open(self.paths[i]).convert('RGB')), int(self.labels[i])

def bench_naive(paths, labels, size, n_batches, bs=64):
    import torchvision.transforms as T
    tfm = T.Compose([T.Resize((size, size)), T.RandomHorizontalFlip(), T.RandomRotation(15), T.ColorJitter(0.2, 0.2),
                     T.ToTensor(), T.Normalize([0.5]*3, [0.25]*3)])
    dl = torch.utils.data.DataLoader(NaiveDataset(paths, labels, tfm), bs, shuffle=True, num_workers=2)
    m = naive_cnn(); opt = torch.optim.Adam(m.parameters(), 1e-3); n = 0
    it = iter(dl); next(it)   # warm-up: start the workers
    t = time.perf_counter()
    for i, (x, y) in enumerate(it):
        if i == n_batches: break
        loss = F.cross_entropy(m(x), y); opt.zero_grad(); loss.backward(); opt.step(); n += len(x)
    return n/(time.perf_counter()-t)

def train_timer():
    "A fastai callback: training images/s of an epoch (`.ips`), from the end of its first (warm-up) batch to the end of its last."
    from fastai.callback.core import Callback
    class Timer(Callback):
        order = 99   # after the other callbacks' per-batch work (EMA, ...), which the time includes
        def before_train(self): self.n, self.t = 0, None
        def after_batch(self):
            if not self.training: return
            if self.iter == 0: self.t = time.perf_counter()
            else: self.n += len(self.xb[0])
        def after_train(self): self.ips = self.n/(time.perf_counter() - self.t)
    return Timer()

def bench_ours(root, size, cache_dir):
    from defect_qc.config import load_config
    from defect_qc.train import dls_from_config, make_learner
    cfg = load_config([f'data.img_size={size}', *([f'data.cache_dir={cache_dir}'] if cache_dir else [])])
    dls = dls_from_config(cfg, root, device='cpu', verbose=False)   # exactly the loaders training builds
    learn = make_learner(dls, cfg, '/tmp')
    timer = train_timer()
    with learn.no_bar(), learn.no_logging(): learn.fit(1, 1e-3, cbs=timer)
    return timer.ips, dls, cfg

def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('root', nargs='?', help='data root (default: $DEFECT_QC_REAL_DATA or ../shared/data/casting_data if present, else demo data)')
    ap.add_argument('--size', type=int, default=128)
    ap.add_argument('--baseline-batches', type=int, default=16)
    ap.add_argument('--cache-dir', default=None)
    a = ap.parse_args()
    from defect_qc.fixtures import real_data_root
    root = a.root or real_data_root()
    if root is None:
        from defect_qc.synth import demo_data
        root = demo_data(); print(f"(demo data: {root})")
    from defect_qc.images import find_splits, list_split
    paths, labels = list_split(find_splits(root)['train'])
    print(f"data: {root} ({len(paths)} train images), {a.size} px, {torch.get_num_threads()} threads")
    ours, dls, cfg = bench_ours(root, a.size, a.cache_dir)
    from defect_qc.train import resolve_precision
    print(f"ours   (cached tensors + DefectCNN channels_last, {resolve_precision(cfg.precision, 'cpu')}, fastai): {ours:8.1f} images/s  "
          f"({dls.info['n_train']} images/epoch -> {dls.info['n_train']/ours:.1f} s/epoch)")
    naive = bench_naive(paths, labels, a.size, a.baseline_batches)
    print(f"naive  (PIL Dataset + torchvision transforms + plain CNN):  {naive:8.1f} images/s  ({a.baseline_batches} batches of 64)")
    print(f"speed-up: {ours/naive:.1f}x")

if __name__ == '__main__': main()
