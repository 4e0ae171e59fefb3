"""``_summary`` and ``_elements``: the parts of a resource a client asked for (pure, no database).

What counts as a summary element or a mandatory one comes from the R4B definitions in
``fhir.resources`` (``isSummary``, minimum cardinality), not from a list kept here. A
subset is tagged ``SUBSETTED`` so that no client mistakes it for the whole resource and
writes it back over the original.
"""

from __future__ import annotations

from functools import cache
from typing import Any

from fhir.resources.R4B import get_fhir_model_class

SUBSETTED = {
    "system": "http://terminology.hl7.org/CodeSystem/v3-ObservationValue",
    "code": "SUBSETTED",
    "display": "subsetted",
}
_ALWAYS = frozenset({"resourceType", "id", "meta"})


def subset(resource: dict[str, Any], *, summary: str | None = None, elements: tuple[str, ...] = ()) -> dict[str, Any]:
    """``resource`` reduced as ``_summary`` (true, text, data, false) or ``_elements`` asks; whole otherwise."""
    resource_type = resource["resourceType"]
    keep: set[str] | frozenset[str]
    if summary == "true":
        keep = _ALWAYS | summary_elements(resource_type)
    elif summary == "text":
        keep = _ALWAYS | {"text"} | mandatory_elements(resource_type)
    elif summary == "data":
        keep = set(resource) - {"text"}
    elif elements:
        keep = _ALWAYS | set(elements) | mandatory_elements(resource_type)
    else:
        return resource
    subsetted = {name: value for name, value in resource.items() if name in keep}
    if subsetted.keys() == resource.keys() and summary == "data":
        return resource  # nothing was left out: it is the whole resource
    meta = dict(subsetted.get("meta") or {})
    meta["tag"] = [*meta.get("tag", []), SUBSETTED]
    subsetted["meta"] = meta
    return subsetted


@cache
def summary_elements(resource_type: str) -> frozenset[str]:
    """Top-level elements FHIR marks ``isSummary`` for ``resource_type``."""
    return frozenset(
        info.alias or name
        for name, info in get_fhir_model_class(resource_type).model_fields.items()
        if (info.json_schema_extra or {}).get("summary_element_property")  # type: ignore[union-attr]
    )


@cache
def mandatory_elements(resource_type: str) -> frozenset[str]:
    """Top-level elements with a minimum cardinality of 1 (``DocumentReference.status``, ``.content``)."""
    return frozenset(
        info.alias or name
        for name, info in get_fhir_model_class(resource_type).model_fields.items()
        if (info.json_schema_extra or {}).get("element_required") or info.is_required()  # type: ignore[union-attr]
    )
