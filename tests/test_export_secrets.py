"""The secret and personal-data scan: exact kinds on planted values, nothing on look-alikes."""

from __future__ import annotations

import pytest

from datagen.export.secrets import redact_text, scan_rows, scan_text


@pytest.mark.parametrize(
    ("text", "kind"),
    [
        ("key sk-ant-api03-abcdefghijklmnopqrstuvwxyz012345", "anthropic_key"),
        ("OPENAI_API_KEY=sk-abcdefghijklmnopqrstuvwxyz0123456789ABCD", "openai_key"),
        ("sk-proj-abcdefghijklmnopqrstuvwxyz_0123456789-XYZ", "openai_key"),
        ("id AKIAIOSFODNN7EXAMPLE here", "aws_access_key"),
        ("token ghp_" + "a1B2" * 9, "github_token"),
        ("hf_" + "AbCd" * 9, "huggingface_token"),
        ("AIza" + "B" * 35, "google_api_key"),
        ("xoxb-1234567890-abcdefghij", "slack_token"),
        ("sk_live_" + "x" * 24, "stripe_key"),
        ("eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N", "jwt"),
        (
            "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAA\n-----END OPENSSH PRIVATE KEY-----",
            "private_key",
        ),
        ("write to a.b-c+d@mail.example.co.uk today", "email"),
        ("call +44 20 7946 0958", "phone"),
        ("call (555) 123-4567 now", "phone"),
        ("call 555-123-4567", "phone"),
    ],
)
def test_planted_values_are_found_with_their_kind(text, kind):
    [f] = scan_text(text)
    assert f.kind == kind
    assert f"[REDACTED_{kind.upper()}]" in redact_text(text)


@pytest.mark.parametrize(
    "text",
    [
        "On 2024-01-15 at 10:30 the value was 3.14159.",
        "Version 1.2.3, port 8080, IP 192.168.1.1, ISBN 978-3-16-148410-0.",
        "The sum 12345 + 67890 = 80235; the risk-free rate is 5%.",
        "Use the task-specific prompt; skip the sk- prefix.",
        "Email me at the office (no address here).",
    ],
)
def test_look_alikes_are_not_reported(text):
    assert scan_text(text) == []


def test_report_counts_and_masks():
    rows = [
        {"id": 1, "instruction": "mail x.y@example.com", "output": "key AKIAIOSFODNN7EXAMPLE"},
        {"id": 2, "instruction": "nothing", "output": "fine"},
    ]
    rep = scan_rows(rows, ("instruction", "output"))
    assert rep["findings"] == 2 and rep["records"] == [1]
    assert rep["by_kind"] == {"aws_access_key": 1, "email": 1}
    assert rep["by_field"] == {"instruction": 1, "output": 1}
    assert all("EXAMPLE" not in e["masked"] and "example.com" not in e["masked"] for e in rep["examples"])
