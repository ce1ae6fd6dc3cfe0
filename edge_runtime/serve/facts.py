"""What the page's facts view and ``GET /v1/bundles`` say about a loaded bundle, all from its metadata."""

from __future__ import annotations

import dataclasses
from typing import Any

from brainedge.edge_runtime.serve.worker import InterpreterWorker


def bundle_facts(worker: InterpreterWorker) -> dict[str, Any]:
    """Classes, input, export method, verification, calibration, referral and refusal of one bundle.

    ``verification`` names the split it was measured on; ``explain`` says whether the bundle can draw
    class-activation maps; a bundle of schema 1 has no calibration, referral or out-of-distribution model.
    """
    engine = worker.engine
    bundle = engine.bundle
    metadata = bundle.metadata
    ood = metadata.out_of_distribution
    return {
        "name": worker.name,
        "class_names": bundle.class_names,
        "input": dataclasses.asdict(metadata.input),
        "format": metadata.model_format,
        "variant": metadata.variant,
        "export_method": metadata.provenance.get("export_method"),
        "exported_at": metadata.provenance.get("exported_at"),
        "schema_version": metadata.schema_version,
        "size_bytes": bundle.size_bytes,
        "backend": engine.backend.name,
        "confidence_threshold": engine.confidence_threshold,
        "verification": metadata.verification,
        "calibration": None if metadata.calibration is None else dataclasses.asdict(metadata.calibration),
        "referral": None if metadata.referral is None else dataclasses.asdict(metadata.referral),
        "out_of_distribution": None
        if ood is None
        else {"threshold": ood.threshold, "method": ood.method, "fit": ood.fit},
        "explain": worker.draws_maps,
    }
