"""FHIR R4 export of one patient: a Bundle that validates against the R4B models."""

from __future__ import annotations

import json

import pytest
from fhir.resources.R4B.bundle import Bundle

from desktop_crm.services import patients
from desktop_crm.services.exporting import fhir_export
from desktop_crm.services.patient_model import (
    ContactPoint,
    HumanName,
    Identifier,
    Patient,
)
from desktop_crm.storage import patient_queries
from desktop_crm.storage.writepath import AuditEvent, Mutation

SSN = "http://hl7.org/fhir/sid/us-ssn"
SYNTHEA = "https://github.com/synthetichealth/synthea"


def _add_visit(session, patient_id: str, visit_id: str, **values) -> None:
    session.write(
        AuditEvent("visit.add", "visit", visit_id),
        [Mutation("visits", visit_id, "insert", {"patient_id": patient_id, **values})],
    )


@pytest.fixture
def session(memory_vault):
    return memory_vault.created.session


@pytest.fixture
def rich_patient(session) -> str:
    patient = Patient(
        family="García-López",
        given="María",
        middle="José",
        prefix="Dr.",
        suffix="PhD",
        preferred_name="Majo",
        previous_names=(HumanName("Ruiz", "María", "maiden"), HumanName("Old", "")),
        birth_date="1984-02",
        sex_at_birth="female",
        gender_identity="woman",
        pronouns="she/her",
        phones=(ContactPoint("+1 555 010 0142", "mobile"),),
        emails=(ContactPoint("majo@example.org", "home"),),
        address={"line": "1 Main St\nApt 2", "city": "Springfield", "state": "IL"},
        language="es",
        identifiers=(
            Identifier(SSN, "999-12-3456", "SSN"),
            Identifier(SYNTHEA, "b7c2-11"),
        ),
        status="deceased",
        deceased_date="2021-07",
        emergency_contact={"name": "Luis García", "phone": "+1 555 010 0199"},
    )
    patient_id = patients.create_patient(session, patient)
    _add_visit(
        session,
        patient_id,
        "visit-1",
        start="2023-01-02T10:00:00",
        end="2023-01-02T10:30:00Z",
        **{"class": "vr", "type": "Follow-up", "status": "finished"},
        provider_ref="Dr. Núñez",
    )
    _add_visit(session, patient_id, "visit 2 (odd id)", start="2019-05", status="??")
    return patient_id


def _resources(bundle: dict, kind: str) -> list[dict]:
    return [
        e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == kind
    ]


def test_bundle_validates_as_r4(session, rich_patient):
    bundle = fhir_export.patient_bundle(session, rich_patient)

    validated = Bundle.model_validate(json.loads(json.dumps(bundle)))

    assert validated.type == "collection"
    assert len(_resources(bundle, "Patient")) == 1
    assert len(_resources(bundle, "Encounter")) == 2


def test_patient_fields_are_mapped_back(session, rich_patient):
    bundle = fhir_export.patient_bundle(session, rich_patient)

    (patient,) = _resources(bundle, "Patient")

    assert patient["id"] == rich_patient
    assert patient["birthDate"] == "1984-02"
    assert patient["deceasedDateTime"] == "2021-07"
    assert patient["gender"] == "female"
    uses = {n["use"]: n for n in patient["name"]}
    assert uses["official"]["family"] == "García-López"
    assert uses["official"]["given"] == ["María", "José"]
    assert uses["official"]["prefix"] == ["Dr."]
    assert uses["official"]["suffix"] == ["PhD"]
    assert uses["usual"]["given"] == ["Majo"]
    assert uses["maiden"]["family"] == "Ruiz"
    assert uses["old"]["family"] == "Old"
    assert {"system": "phone", "value": "+1 555-010-0142", "use": "mobile"} in patient[
        "telecom"
    ]
    assert patient["address"][0]["line"] == ["1 Main St", "Apt 2"]
    assert patient["communication"][0]["language"]["coding"][0]["code"] == "es"
    assert patient["contact"][0]["name"]["text"] == "Luis García"


def test_identifiers_keep_their_systems_and_mrn_is_typed(session, rich_patient):
    mrn = patients.load_patient(session, rich_patient).mrn

    bundle = fhir_export.patient_bundle(session, rich_patient)

    identifiers = _resources(bundle, "Patient")[0]["identifier"]
    first = identifiers[0]
    assert first["system"] == "urn:desktop-crm:mrn"
    assert first["value"] == mrn
    assert first["type"]["coding"][0]["code"] == "MR"
    pairs = {(i["system"], i["value"]) for i in identifiers}
    assert {(SSN, "999-12-3456"), (SYNTHEA, "b7c2-11")} <= pairs


def test_visits_become_encounters_of_the_patient(session, rich_patient):
    bundle = fhir_export.patient_bundle(session, rich_patient)

    second, first = _resources(bundle, "Encounter")  # oldest first

    patient_url = bundle["entry"][0]["fullUrl"]
    assert first["subject"]["reference"] == patient_url
    assert first["status"] == "finished"
    assert first["class"]["code"] == "VR"
    assert first["type"] == [{"text": "Follow-up"}]
    assert first["participant"][0]["individual"]["display"] == "Dr. Núñez"
    assert first["period"] == {
        "start": "2023-01-02T10:00:00-06:00",
        "end": "2023-01-02T10:30:00+00:00",
    }
    assert second["status"] == "unknown"
    assert second["period"] == {"start": "2019-05"}
    assert "id" not in second
    urls = [e["fullUrl"] for e in bundle["entry"]]
    assert all(u.startswith("urn:uuid:") for u in urls)
    assert len(set(urls)) == len(urls)


def test_names_with_apostrophes_are_not_escaped(session):
    patient_id = patients.create_patient(
        session, Patient(family="O'Grady", given="Siobhán", birth_date="1990")
    )

    text = json.dumps(fhir_export.patient_bundle(session, patient_id))

    assert "O'Grady" in text
    assert "&#39;" not in text and "\\'" not in text
    Bundle.model_validate(json.loads(text))


def test_minimal_patient_validates(session):
    patient_id = patients.create_patient(session, Patient(family="Solo"))

    bundle = fhir_export.patient_bundle(session, patient_id)

    Bundle.model_validate(bundle)
    assert _resources(bundle, "Encounter") == []


def test_deceased_without_date_is_a_boolean(session):
    patient_id = patients.create_patient(
        session, Patient(family="Gone", status="deceased", sex_at_birth="intersex")
    )

    (patient,) = _resources(fhir_export.patient_bundle(session, patient_id), "Patient")

    assert patient["deceasedBoolean"] is True
    assert patient["gender"] == "other"


def test_contributors_add_resources(session, monkeypatch):
    patient_id = patients.create_patient(session, Patient(family="Extra"))

    def appointments(context):
        yield {
            "resourceType": "Appointment",
            "id": "a1",
            "status": "booked",
            "participant": [
                {
                    "actor": {"reference": context.patient_reference},
                    "status": "accepted",
                }
            ],
        }

    monkeypatch.setattr(
        fhir_export, "CONTRIBUTORS", [*fhir_export.CONTRIBUTORS, appointments]
    )

    bundle = fhir_export.patient_bundle(session, patient_id)

    Bundle.model_validate(bundle)
    assert len(_resources(bundle, "Appointment")) == 1


def test_export_is_audited(session, rich_patient):
    fhir_export.patient_bundle(session, rich_patient)

    entries = patients.history(session, rich_patient)

    assert entries[-1][2:] == ("patient.export", [], "fhir")


def test_unknown_patient(session):
    with pytest.raises(patients.PatientNotFound):
        fhir_export.patient_bundle(session, "no-such-id")


def test_visits_query_is_used_for_encounters(session, rich_patient):
    stored = patient_queries.visits(session.database(), rich_patient)

    bundle = fhir_export.patient_bundle(session, rich_patient)

    assert len(_resources(bundle, "Encounter")) == len(stored)
