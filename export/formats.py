"""Which formats one export makes, chosen from the runtime's table of export formats."""

from brainedge.edge_runtime.errors import BrainEdgeError
from brainedge.edge_runtime.formats import FORMAT_NAMES, FORMATS, export_format


def chosen_formats(requested: list[str], has_qat_model: bool) -> list[str]:
    """Validate the requested formats; 'all' expands to every format the run can produce."""
    if requested == ["all"]:
        return [f.name for f in FORMATS if has_qat_model or not f.needs_qat]
    unknown = [name for name in requested if name not in FORMAT_NAMES]
    if unknown:
        raise BrainEdgeError(f"unknown format(s) {', '.join(unknown)}; choose from {', '.join(FORMAT_NAMES)}")
    if not has_qat_model and any(export_format(name).needs_qat for name in requested):
        raise BrainEdgeError("tflite_int8_qat needs a QAT model: train with --qat-epochs 1 or more")
    return list(dict.fromkeys(requested))
