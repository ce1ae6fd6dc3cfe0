"""One-off measurement studies: each writes its record under benchmarks/results/.

They sit on top of every layer (training, export, runtime, the benchmark harness) and are not
part of the product's command-line tools; run each as ``python -m brainedge.benchmarks.studies.NAME``.
"""
