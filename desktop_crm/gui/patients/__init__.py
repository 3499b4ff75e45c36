"""The Patients screen: list and search, record view, forms, merge, documents."""
