"""The benchmark command: every pattern against the naive pipeline, the limit and peer loaders.

    python -m benchmarks [--quick] [--json PATH] [--plot DIR] [--only A,B] [--reps N]

Modules, by concern:

* ``workloads``: the per-element work of each class and its parameters;
* ``patterns``: the tf.data pipelines measured (ours, built from ``recipes``);
* ``peers``: other loaders doing the same work (PyTorch, Grain), when installed;
* ``measure``: consuming, checking and timing, the limit, the service rows;
* ``report``: the targets, the JSON report and the charts;
* ``__main__``: the command line.

Nothing imported at the top level of ``benchmarks``, ``workloads``,
``patterns`` or ``peers`` imports TensorFlow: worker processes started with
``spawn`` import these modules to find the work, and must stay light.
"""
