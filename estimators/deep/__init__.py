"""Deep causal estimators on the CPU (JAX + optax, the `deep` extra): TARNet, CFRNet, DragonNet, DCN-PD,
DRNet, VCNet and CEVAE.

The networks (`tarnet`, `dragonnet`, ...) are plain functions over numpy arrays and import JAX when
imported; `adapters` holds the registry classes and imports nothing heavy until an estimator fits.
bench/results/deep-stack.md says why JAX.
"""

__all__: list[str] = []
