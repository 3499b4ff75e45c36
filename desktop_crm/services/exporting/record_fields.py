"""Field helpers shared by the exporters (address parts, contact text)."""

from __future__ import annotations

from collections.abc import Mapping

#: Address keys as the record may hold them (FHIR and snake_case spellings),
#: mapped to the names the exporters use.
_ADDRESS_ALIASES = {
    "line": "line",
    "line1": "line",
    "line2": "line",
    "city": "city",
    "district": "district",
    "state": "state",
    "postal_code": "postal_code",
    "postalCode": "postal_code",
    "zip": "postal_code",
    "country": "country",
}
ADDRESS_FIELDS = ("line", "city", "district", "state", "postal_code", "country")


def address_parts(address: Mapping[str, object]) -> dict[str, list[str]]:
    """Address values grouped under :data:`ADDRESS_FIELDS` (lines keep order)."""
    parts: dict[str, list[str]] = {name: [] for name in ADDRESS_FIELDS}
    for key, target in _ADDRESS_ALIASES.items():
        value = address.get(key)
        for item in value if isinstance(value, list) else [value]:
            text = str(item).strip() if item is not None else ""
            for piece in text.splitlines():
                if piece.strip() and piece.strip() not in parts[target]:
                    parts[target].append(piece.strip())
    return parts


def address_text(address: Mapping[str, object]) -> str:
    """One-line form of an address, for summaries."""
    parts = address_parts(address)
    if not any(parts.values()):
        return str(address.get("text", "")).strip()
    region = " ".join(parts["state"] + parts["postal_code"])
    pieces = [*parts["line"], *parts["city"], *parts["district"], region]
    return ", ".join(p for p in [*pieces, *parts["country"]] if p)


def mapping_text(values: Mapping[str, object]) -> str:
    """``key: value`` pairs of a small free-form record (emergency contact)."""
    return "; ".join(
        f"{key.replace('_', ' ')}: {value}"
        for key, value in values.items()
        if value not in (None, "")
    )
