"""Stack choice for the deep estimators (bench/results/deep-stack.md): TARNet speed in PyTorch on 1,000 x 25, one thread.
import os, sys, time
t0 = time.perf_counter()
import numpy as np
import torch
t_import = time.perf_counter() - t0
torch.set_num_threads(1); torch.set_num_interop_threads(1)
EPOCHS = int(sys.argv[1]) if len(sys.argv) > 1 else 100
rng = np.random.default_rng(0)
n, p = 1000, 25
X = rng.normal(size=(n, p)).astype(np.float32)
T = (rng.random(n) < 1 / (1 + np.exp(-X[:, 0]))).astype(np.float32)
Y = (X[:, 1] + T * (1 + X[:, 2]) + rng.normal(size=n)).astype(np.float32)
torch.manual_seed(0)
def mlp(sizes):
    layers = []
    for a, b in zip(sizes[:-1], sizes[1:]):
        layers += [torch.nn.Linear(a, b), torch.nn.ELU()]
    return torch.nn.Sequential(*layers)
rep = mlp([p, 100, 100, 100])
h0 = torch.nn.Sequential(mlp([100, 100, 100]), torch.nn.Linear(100, 1))
h1 = torch.nn.Sequential(mlp([100, 100, 100]), torch.nn.Linear(100, 1))
params = [*rep.parameters(), *h0.parameters(), *h1.parameters()]
opt = torch.optim.Adam(params, lr=1e-3)
Xt, Tt, Yt = map(torch.from_numpy, (X, T, Y))
start = time.perf_counter()
for epoch in range(EPOCHS):
    order = torch.from_numpy(rng.permutation(n))
    for b in range(0, n, 64):
        idx = order[b:b + 64]
        x, t, y = Xt[idx], Tt[idx], Yt[idx]
        phi = rep(x)
        pred = torch.where(t > 0, h1(phi)[:, 0], h0(phi)[:, 0])
        loss = ((pred - y) ** 2).mean()
        opt.zero_grad(); loss.backward(); opt.step()
train = time.perf_counter() - start
with torch.no_grad():
    phi = rep(Xt); cate = (h1(phi) - h0(phi))[:, 0].numpy()
print(f"torch {torch.__version__} import_s={t_import:.2f} epochs={EPOCHS} train_s={train:.2f} "
      f"ms_per_epoch={1000*train/EPOCHS:.1f} ate={cate.mean():.3f} pehe={np.sqrt(np.mean((cate-1-X[:,2])**2)):.3f}")
