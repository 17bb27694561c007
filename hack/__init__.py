"""Developer tooling: the local control plane and the node simulator used by tests, demo and benchmarks."""
