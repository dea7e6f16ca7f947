"""Pipeline steps: one module per step, each a plain function with typed inputs and outputs."""
