"""narsync's benchmark suite as a package: workloads, peers, measure, report; `benchmarks/run` is its command line."""
