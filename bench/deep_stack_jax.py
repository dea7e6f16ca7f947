"""Stack choice for the deep estimators (bench/results/deep-stack.md): TARNet speed in JAX + optax on 1,000 x 25, one thread.
An epoch is one jitted lax.scan over the minibatches (how one writes a JAX training loop)."""
import os, sys, time
os.environ.setdefault("XLA_FLAGS", "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1")
t0 = time.perf_counter()
import numpy as np
import jax, jax.numpy as jnp, optax
t_import = time.perf_counter() - t0
EPOCHS = int(sys.argv[1]) if len(sys.argv) > 1 else 100
rng = np.random.default_rng(0)
n, p = 1000, 25
X = rng.normal(size=(n, p)).astype(np.float32)
T = (rng.random(n) < 1 / (1 + np.exp(-X[:, 0]))).astype(np.float32)
Y = (X[:, 1] + T * (1 + X[:, 2]) + rng.normal(size=n)).astype(np.float32)
def init_mlp(key, sizes, last_linear=False):
    ps = []
    for a, b in zip(sizes[:-1], sizes[1:]):
        key, k = jax.random.split(key)
        ps.append((jax.random.normal(k, (a, b)) * jnp.sqrt(1.0 / a), jnp.zeros(b)))
    return ps
def apply(ps, x, last_linear=False):
    for i, (w, b) in enumerate(ps):
        x = x @ w + b
        if not (last_linear and i == len(ps) - 1):
            x = jax.nn.elu(x)
    return x
k = jax.random.PRNGKey(0); k1, k2, k3 = jax.random.split(k, 3)
params = {"rep": init_mlp(k1, [p, 100, 100, 100]), "h0": init_mlp(k2, [100, 100, 100, 1]), "h1": init_mlp(k3, [100, 100, 100, 1])}
opt = optax.adam(1e-3); state = opt.init(params)
def loss_fn(ps, x, t, y):
    phi = apply(ps["rep"], x)
    pred = jnp.where(t > 0, apply(ps["h1"], phi, True)[:, 0], apply(ps["h0"], phi, True)[:, 0])
    return jnp.mean((pred - y) ** 2)
nb = n // 64  # whole batches only (scan needs a fixed shape)
@jax.jit
def epoch(ps, st, perm, X, T, Y):
    idx = perm[: nb * 64].reshape(nb, 64)
    def step(carry, i):
        ps, st = carry
        l, g = jax.value_and_grad(loss_fn)(ps, X[i], T[i], Y[i])
        up, st = opt.update(g, st, ps)
        return (optax.apply_updates(ps, up), st), l
    (ps, st), ls = jax.lax.scan(step, (ps, st), idx)
    return ps, st, ls.mean()
Xj, Tj, Yj = map(jnp.asarray, (X, T, Y))
c0 = time.perf_counter()
params, state, _ = epoch(params, state, jnp.asarray(rng.permutation(n)), Xj, Tj, Yj); jax.block_until_ready(params)
compile_s = time.perf_counter() - c0
start = time.perf_counter()
for e in range(EPOCHS - 1):
    params, state, l = epoch(params, state, jnp.asarray(rng.permutation(n)), Xj, Tj, Yj)
jax.block_until_ready(params)
train = time.perf_counter() - start
phi = apply(params["rep"], Xj); cate = np.asarray(apply(params["h1"], phi, True) - apply(params["h0"], phi, True))[:, 0]
print(f"jax {jax.__version__} import_s={t_import:.2f} compile_s={compile_s:.2f} epochs={EPOCHS} train_s={train:.2f} "
      f"ms_per_epoch={1000*train/(EPOCHS-1):.1f} ate={cate.mean():.3f} pehe={np.sqrt(np.mean((cate-1-X[:,2])**2)):.3f}")
