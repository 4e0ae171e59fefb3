"""Read an ADL 1.4 operational template (OPT) and derive the FLAT paths it admits.

The path rules follow EHRbase's web template (openEHR SDK ``OPTParser``) for the
subset of the reference model a letter needs: a node's id is its name constraint
or its archetype term text, lower-cased and snake-cased; structural containers
(ITEM_TREE, ITEM_LIST, HISTORY) add no path segment; a node that may occur more
than once gets a ``:0`` index; data values end the path with ``|suffix`` inputs;
and the reference-model attributes every COMPOSITION, EVENT_CONTEXT and ENTRY
carries (language, territory, composer, start_time, setting, encoding …) are
added as EHRbase does. This is the one list of admitted keys: the fake EHRbase in
the tests validates against it, and ``flat.build_flat`` is tested against it.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from dataclasses import dataclass
from importlib import resources

from apps.letters.errors import TemplateParseError

TEMPLATE_ID = "quill_letter.v1"
TEMPLATE_RESOURCE = "quill_letter.v1.opt"

_NS = "http://schemas.openehr.org/v1"
_XSI_TYPE = "{http://www.w3.org/2001/XMLSchema-instance}type"
_MAX_OPT_BYTES = 5 * 1024 * 1024

# Containers the web template flattens away: their children hang off the parent.
_STRUCTURE_TYPES = frozenset({"ITEM_TREE", "ITEM_LIST", "ITEM_SINGLE", "ITEM_TABLE", "HISTORY"})
_ENTRY_TYPES = frozenset({"EVALUATION", "OBSERVATION", "INSTRUCTION", "ACTION", "ADMIN_ENTRY"})

# FLAT inputs of each data type: "" means the bare path carries the value.
_SUFFIXES: dict[str, tuple[str, ...]] = {
    "DV_TEXT": ("",),
    "DV_DATE_TIME": ("",),
    "DV_DATE": ("",),
    "DV_TIME": ("",),
    "DV_BOOLEAN": ("",),
    "DV_COUNT": ("",),
    "DV_IDENTIFIER": ("|id", "|issuer", "|assigner", "|type"),
    "DV_URI": ("",),
    "DV_CODED_TEXT": ("|code", "|value", "|terminology"),
    "DV_QUANTITY": ("|magnitude", "|unit"),
    "CODE_PHRASE": ("|code", "|terminology"),
    "PARTY_PROXY": ("|name", "|id", "|id_scheme", "|id_namespace"),
}

# Reference-model attributes EHRbase adds to the web template (not in the OPT).
_RM_ATTRIBUTES: dict[str, tuple[tuple[str, str], ...]] = {
    "COMPOSITION": (("language", "CODE_PHRASE"), ("territory", "CODE_PHRASE"), ("composer", "PARTY_PROXY")),
    "EVENT_CONTEXT": (
        ("start_time", "DV_DATE_TIME"),
        ("setting", "DV_CODED_TEXT"),
        ("_end_time", "DV_DATE_TIME"),
        ("_health_care_facility", "PARTY_PROXY"),
    ),
    "ENTRY": (("language", "CODE_PHRASE"), ("encoding", "CODE_PHRASE"), ("subject", "PARTY_PROXY")),
}

# ``ctx/`` shortcuts EHRbase's FLAT format accepts for any template (EHRbase docs,
# "Context Information"); they set defaults in the RM tree, not template nodes.
CTX_KEYS = frozenset(
    {
        "ctx/language",
        "ctx/territory",
        "ctx/time",
        "ctx/end_time",
        "ctx/composer_name",
        "ctx/composer_id",
        "ctx/composer_self",
        "ctx/id_namespace",
        "ctx/id_scheme",
        "ctx/health_care_facility|name",
        "ctx/health_care_facility|id",
        "ctx/setting",
        "ctx/location",
    }
)


@dataclass(frozen=True)
class TemplateInfo:
    """What Quill needs to know about an operational template."""

    template_id: str
    concept: str
    root_id: str
    archetype_ids: tuple[str, ...]
    flat_paths: frozenset[str]

    def admits(self, key: str) -> bool:
        return key in self.flat_paths


def load_letter_template() -> bytes:
    """The ``quill_letter.v1`` OPT shipped with the project."""
    return resources.files(__package__).joinpath("templates", TEMPLATE_RESOURCE).read_bytes()


def parse_template(opt_xml: bytes | str) -> TemplateInfo:
    """Parse an OPT and list its id, archetypes and admitted FLAT paths."""
    root = _parse_xml(opt_xml)
    if root.tag != _q("template"):
        raise TemplateParseError("Not an openEHR operational template (root element is not <template>).")
    template_id = _text(root.find(f"{_q('template_id')}/{_q('value')}"))
    concept = _text(root.find(_q("concept")))
    definition = root.find(_q("definition"))
    if not template_id or definition is None:
        raise TemplateParseError("The template has no template_id or no definition.")
    if _child_text(definition, "rm_type_name") != "COMPOSITION":
        raise TemplateParseError("The template definition is not rooted in a COMPOSITION.")

    archetype_ids = tuple(dict.fromkeys(_archetype_ids(definition)))
    terms = _term_texts(definition)
    root_id = build_id(_fixed_name(definition) or terms.get(_child_text(definition, "node_id"), "") or concept)
    paths: set[str] = set(CTX_KEYS)
    paths.update(_rm_paths(root_id, "COMPOSITION"))
    _walk_attributes(definition, root_id, terms, paths)
    return TemplateInfo(
        template_id=template_id,
        concept=concept,
        root_id=root_id,
        archetype_ids=archetype_ids,
        flat_paths=frozenset(paths),
    )


def build_id(term: str) -> str:
    """Web-template id of a term: lower case, runs of other characters to ``_``."""
    normal = re.sub(r"[^\w.\-]+", " ", term.lower().replace("_", " ")).split()
    node_id = "_".join(normal)
    if not node_id:
        return "node"
    return f"a{node_id}" if node_id[0].isdigit() else node_id


def _parse_xml(opt_xml: bytes | str) -> ET.Element:
    data = opt_xml.encode("utf-8") if isinstance(opt_xml, str) else opt_xml
    if len(data) > _MAX_OPT_BYTES:
        raise TemplateParseError("The template is larger than Quill accepts.")
    # An OPT never needs a DTD; refusing one means no entity is ever declared,
    # expanded or fetched from outside.
    if b"<!DOCTYPE" in data.upper() or b"<!ENTITY" in data.upper():
        raise TemplateParseError("The template declares a DTD or entities, which Quill refuses.")
    try:
        return ET.fromstring(data)  # noqa: S314 - DTDs refused above, so no entity can be declared
    except ET.ParseError as exc:
        raise TemplateParseError(f"The template is not well-formed XML: {exc}.") from exc


def _q(tag: str) -> str:
    return f"{{{_NS}}}{tag}"


def _text(element: ET.Element | None) -> str:
    return (element.text or "").strip() if element is not None else ""


def _child_text(element: ET.Element, tag: str) -> str:
    return _text(element.find(_q(tag)))


def _archetype_ids(element: ET.Element) -> Iterator[str]:
    own = _text(element.find(f"{_q('archetype_id')}/{_q('value')}"))
    if own:
        yield own
    for attribute in element.findall(_q("attributes")):
        for child in attribute.findall(_q("children")):
            yield from _archetype_ids(child)


def _term_texts(archetype_root: ET.Element) -> dict[str, str]:
    texts: dict[str, str] = {}
    for term in archetype_root.findall(_q("term_definitions")):
        for item in term.findall(_q("items")):
            if item.get("id") == "text":
                texts[term.get("code", "")] = _text(item)
    return texts


def _fixed_name(obj: ET.Element) -> str | None:
    """The single value of a ``name/value`` string constraint, if the template fixes one."""
    for attribute in obj.findall(_q("attributes")):
        if _child_text(attribute, "rm_attribute_name") != "name":
            continue
        lists = attribute.findall(f".//{_q('item')}/{_q('list')}")
        if len(lists) == 1:
            return _text(lists[0])
    return None


def _is_multiple(obj: ET.Element) -> bool:
    occurrences = obj.find(_q("occurrences"))
    if occurrences is None:
        return False
    if _child_text(occurrences, "upper_unbounded") == "true":
        return True
    upper = _child_text(occurrences, "upper")
    return bool(upper) and int(upper) > 1


def _rm_paths(prefix: str, rm_type: str) -> Iterator[str]:
    key = "ENTRY" if rm_type in _ENTRY_TYPES else rm_type
    for name, value_type in _RM_ATTRIBUTES.get(key, ()):
        for suffix in _SUFFIXES[value_type]:
            yield f"{prefix}/{name}{suffix}"


def _walk_attributes(obj: ET.Element, prefix: str, terms: dict[str, str], paths: set[str]) -> None:
    for attribute in obj.findall(_q("attributes")):
        name = _child_text(attribute, "rm_attribute_name")
        if name == "name":
            continue
        for child in attribute.findall(_q("children")):
            _walk_object(child, name, prefix, terms, paths)


def _walk_object(obj: ET.Element, attribute: str, prefix: str, terms: dict[str, str], paths: set[str]) -> None:
    rm_type = _child_text(obj, "rm_type_name")
    if obj.get(_XSI_TYPE) == "ARCHETYPE_SLOT":
        return  # an unfilled slot admits nothing
    if obj.get(_XSI_TYPE) == "C_ARCHETYPE_ROOT":
        terms = _term_texts(obj)
    if rm_type in _STRUCTURE_TYPES:
        _walk_attributes(obj, prefix, terms, paths)
        return
    node_id = _child_text(obj, "node_id")
    label = _fixed_name(obj) or (terms.get(node_id) if node_id else None) or attribute
    segment = build_id(label) + (":0" if _is_multiple(obj) else "")
    path = f"{prefix}/{segment}"
    if rm_type == "ELEMENT":
        for value in obj.findall(f"{_q('attributes')}/{_q('children')}"):
            for suffix in _SUFFIXES.get(_child_text(value, "rm_type_name"), ("",)):
                paths.add(path + suffix)
        return
    if rm_type in _SUFFIXES:  # a data value directly under a non-ELEMENT, e.g. category
        paths.update(path + suffix for suffix in _SUFFIXES[rm_type])
        return
    paths.update(_rm_paths(path, rm_type))
    _walk_attributes(obj, path, terms, paths)
