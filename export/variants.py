"""Which variants one export makes, chosen from the runtime's table of export variants."""

from brainedge.edge_runtime.errors import BrainEdgeError
from brainedge.edge_runtime.variants import VARIANT_NAMES, VARIANTS, variant_named


def chosen_variants(requested: list[str], missing_qat_model: str | None) -> list[str]:
    """Validate the requested variants; 'all' expands to every variant the run can produce.

    ``missing_qat_model``: why the run has no QAT model and how to get one, or None when it has one."""
    if requested == ["all"]:
        if missing_qat_model is not None:
            print(f"note: 'all' leaves out tflite_int8_qat: {missing_qat_model}", flush=True)
        return [f.name for f in VARIANTS if missing_qat_model is None or not f.needs_qat]
    unknown = [name for name in requested if name not in VARIANT_NAMES]
    if unknown:
        raise BrainEdgeError(f"unknown variant(s) {', '.join(unknown)}; choose from {', '.join(VARIANT_NAMES)}")
    if missing_qat_model is not None and any(variant_named(name).needs_qat for name in requested):
        raise BrainEdgeError(f"tflite_int8_qat needs a QAT model: {missing_qat_model}")
    return list(dict.fromkeys(requested))
