"""ITI-65 Provide Document Bundle vs the same documents uploaded one by one, and its memory (issue 17).

Starts SeaweedFS and gunicorn with one sync worker (every request lands on the process
measured). Timing: ``--documents`` PDFs (default 10 of 1 MiB) sent as one MHD transaction
Bundle (``POST /fhir/r4``) and as as many ``POST /api/documents/`` multipart uploads, one
after the other, alternating for ``--repeat`` rounds; medians and the bundle/one-by-one
ratio (target ≤ 1.2). The bundle's JSON is written to disk beforehand and streamed, as
an MHD Document Source would send it; each round is for a new patient, so the bundle is
never a resend. Memory: a bundle of about ``--bundle-mib`` of JSON (two DICOM files,
base64) with the worker's peak RSS reset before it (VmHWM, as ``memory.py``); target: a
rise under 64 MiB.

    .venv/bin/python bench/mhd.py [--documents 10] [--size-kib 1024] [--repeat 5] [--bundle-mib 100]
"""

# ruff: noqa: B023  (each closure is called within its own loop iteration)
from __future__ import annotations

import argparse
import base64
import hashlib
import http.client
import json
import sys
import tempfile
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import harness as h

TIME_TARGET = 1.2
MEMORY_LIMIT_MIB = 64
_PLACEHOLDER = "@@QUILL-BENCH-DATA-{}@@"


def write_bundle(target: Path, files: list[tuple[Path, str]], *, patient_id: uuid.UUID) -> int:
    """An MHD Minimal ProvideBundle for ``files`` (path, content type), base64 streamed into the JSON text."""
    mhd = "https://profiles.ihe.net/ITI/MHD/StructureDefinition/"
    subject = {"reference": f"Patient/{patient_id}"}
    entries, references = [], []
    for index, (path, content_type) in enumerate(files):
        sha1 = hashlib.sha1(usedforsecurity=False)
        with open(path, "rb") as source:
            while chunk := source.read(h.CHUNK):
                sha1.update(chunk)
        binary_url, reference_url = f"urn:uuid:{uuid.uuid4()}", f"urn:uuid:{uuid.uuid4()}"
        references.append(reference_url)
        attachment = {
            "contentType": content_type,
            "url": binary_url,
            "size": path.stat().st_size,
            "hash": base64.b64encode(sha1.digest()).decode(),
            "title": f"Bench document {index + 1}",
            "creation": "2025-03-04",
        }
        document_reference = {
            "resourceType": "DocumentReference",
            "masterIdentifier": {"use": "usual", "system": "urn:ietf:rfc:3986", "value": f"urn:uuid:{uuid.uuid4()}"},
            "status": "current",
            "type": {"coding": [{"system": "http://loinc.org", "code": "18748-4"}]},
            "subject": subject,
            "content": [{"attachment": attachment}],
        }
        binary = {"resourceType": "Binary", "contentType": content_type, "data": _PLACEHOLDER.format(index)}
        for url, resource in ((reference_url, document_reference), (binary_url, binary)):
            entries.append(
                {"fullUrl": url, "resource": resource, "request": {"method": "POST", "url": resource["resourceType"]}}
            )
    submission_set = {
        "resourceType": "List",
        "extension": [{"url": mhd + "ihe-sourceId", "valueIdentifier": {"value": "urn:oid:1.2.3.4"}}],
        "identifier": [{"use": "usual", "system": "urn:ietf:rfc:3986", "value": f"urn:oid:2.25.{uuid.uuid4().int}"}],
        "status": "current",
        "mode": "working",
        "code": {
            "coding": [{"system": "https://profiles.ihe.net/ITI/MHD/CodeSystem/MHDlistTypes", "code": "submissionset"}]
        },
        "subject": subject,
        "date": "2025-03-05T10:00:00Z",
        "entry": [{"item": {"reference": url}} for url in references],
    }
    entries.insert(
        0,
        {
            "fullUrl": f"urn:uuid:{uuid.uuid4()}",
            "resource": submission_set,
            "request": {"method": "POST", "url": "List"},
        },
    )
    text = json.dumps(
        {
            "resourceType": "Bundle",
            "meta": {"profile": [mhd + "IHE.MHD.Minimal.ProvideBundle"]},
            "type": "transaction",
            "entry": entries,
        }
    )
    with open(target, "wb") as out:
        for index, (path, _) in enumerate(files):
            before, _, text = text.partition(_PLACEHOLDER.format(index))
            out.write(before.encode())
            with open(path, "rb") as source:
                while chunk := source.read(3 * h.MiB):  # a multiple of 3: base64 without padding in between
                    out.write(base64.b64encode(chunk))
        out.write(text.encode())
    return target.stat().st_size


def post_bundle(port: int, token: str, path: Path) -> dict:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=900)
    try:
        conn.putrequest("POST", "/fhir/r4")
        conn.putheader("Authorization", f"Token {token}")
        conn.putheader("Content-Type", "application/fhir+json")
        conn.putheader("Content-Length", str(path.stat().st_size))
        conn.endheaders()
        with open(path, "rb") as source:
            while chunk := source.read(h.CHUNK):
                conn.send(chunk)
        response = conn.getresponse()
        body = response.read()
    finally:
        conn.close()
    if response.status != 200:
        raise h.ApiError(f"POST /fhir/r4 answered {response.status}: {body[:500]!r}")
    return json.loads(body)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--documents", type=int, default=10)
    parser.add_argument("--size-kib", type=int, default=1024)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--bundle-mib", type=int, default=100)
    args = parser.parse_args()
    env = h.base_env(QUILL_SCANNER="none", QUILL_MAX_UPLOAD_BYTES=str(100 * h.MiB))
    with h.seaweed() as s3, tempfile.TemporaryDirectory(prefix="quill-bench-mhd-") as tmp:
        env.update(s3.settings_env())
        h.setup_django(env)
        from apps.patients.models import Patient
        from tests.factories import make_patient

        fixture = h.make_fixture("Bench MHD Clinic")
        organisation = Patient.objects.get(pk=fixture.patient_id).organisation
        files = [h.write_pdf(Path(tmp) / f"doc{i}.pdf", args.size_kib * 1024) for i in range(args.documents)]
        rounds = []
        for _ in range(args.repeat):
            patient = make_patient(organisation)
            bundle = Path(tmp) / f"bundle-{patient.pk}.json"
            write_bundle(bundle, [(f, "application/pdf") for f in files], patient_id=patient.pk)
            rounds.append((patient.pk, bundle))
        table = h.Table(
            f"ITI-65: {args.documents} PDFs of {args.size_kib} KiB as one bundle vs one by one (seconds)",
            ["round", "one by one", "bundle", "bundle JSON MiB"],
        )
        with h.Gunicorn(env, workers=1) as server:
            print(h.machine(), flush=True)
            (pid,) = server.worker_pids()
            h.api_upload(server.port, fixture.token, files[0], patient_id=fixture.patient_id, filename="warm.pdf")
            singles, bundles = [], []
            for number, (patient_id, bundle_path) in enumerate(rounds, start=1):
                single = h.timed(
                    lambda: [
                        h.api_upload(
                            server.port, fixture.token, f, patient_id=patient_id, filename=f.name, category="lab"
                        )
                        for f in files
                    ]
                )
                together = h.timed(lambda: post_bundle(server.port, fixture.token, bundle_path))
                singles.append(single)
                bundles.append(together)
                table.add(number, f"{single:.3f}", f"{together:.3f}", f"{bundle_path.stat().st_size / h.MiB:.1f}")
            ratio = h.median(bundles) / h.median(singles)
            table.add("median", f"{h.median(singles):.3f}", f"{h.median(bundles):.3f}", "")
            table.print()
            print(f"bundle / one by one: {ratio:.2f} (target ≤ {TIME_TARGET}) {h.verdict(ratio, TIME_TARGET)}")

            half = args.bundle_mib * h.MiB * 3 // 8  # two files; base64 makes 4/3 of each
            big = [h.write_dicom(Path(tmp) / f"big{i}.dcm", half) for i in range(2)]
            big_bundle = Path(tmp) / "big-bundle.json"
            size = write_bundle(
                big_bundle, [(f, "application/dicom") for f in big], patient_id=make_patient(organisation).pk
            )
            before = h.proc_status(pid)["VmRSS"]
            h.reset_peak_rss(pid)
            seconds = h.timed(lambda: post_bundle(server.port, fixture.token, big_bundle))
            peak = h.proc_status(pid)["VmHWM"]
            rise = (peak - before) / 1024
            print(
                f"Memory: {size / h.MiB:.1f} MiB bundle in {seconds:.2f} s; worker RSS before {before / 1024:.1f} MiB, "
                f"peak {peak / 1024:.1f} MiB, rise {rise:.1f} MiB (target < {MEMORY_LIMIT_MIB}) "
                f"{h.verdict(rise, MEMORY_LIMIT_MIB)}"
            )


if __name__ == "__main__":
    main()
