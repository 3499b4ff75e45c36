"""PyInstaller hook for phonenumbers, replacing the contributed one.

The contributed hook collects every submodule, including about 40 MB of
geocoding, carrier and time-zone data that Desktop CRM never loads (it only
parses, validates and formats numbers). Keep the metadata the parser imports
by name at run time (``phonenumbers.data`` and ``phonenumbers.shortdata``).
"""

from PyInstaller.utils.hooks import collect_submodules

hiddenimports = collect_submodules("phonenumbers.data") + collect_submodules(
    "phonenumbers.shortdata"
)
excludedimports = [
    "phonenumbers.geocoder",
    "phonenumbers.geodata",
    "phonenumbers.carrier",
    "phonenumbers.carrierdata",
    "phonenumbers.timezone",
    "phonenumbers.tzdata",
]
