"""Findings of ``check``: one frozen record per problem, and the report that gathers them all.

Like rio-cogeo's ``validate``, the checks never stop at the first problem: every rule returns
its findings and the report holds all of them, with a verdict per file.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from pathlib import Path


class Severity(str, Enum):
    """error: a QUINT tool fails or quantifies wrongly; warning: worth fixing, works as it is."""

    ERROR = "error"
    WARNING = "warning"


@dataclass(frozen=True)
class Finding:
    """One problem: a stable identifier (``seg.alpha``), a severity, the file and what to do."""

    id: str
    severity: Severity
    file: Path | None
    message: str

    def to_json(self) -> dict:
        """A JSON-ready description (one element of ``check --json``'s ``findings``)."""
        return {"id": self.id, "severity": self.severity.value,
                "file": str(self.file) if self.file else None, "message": self.message}


def error(id_: str, file: Path | None, message: str) -> Finding:
    """An error finding."""
    return Finding(id_, Severity.ERROR, file, message)


def warning(id_: str, file: Path | None, message: str) -> Finding:
    """A warning finding."""
    return Finding(id_, Severity.WARNING, file, message)


@dataclass(frozen=True)
class FileVerdict:
    """The one-line verdict on one file: ok, warning or error, and the identifiers behind it."""

    file: Path
    role: str  # image, segmentation, registration
    verdict: str
    ids: tuple[str, ...]

    def to_json(self) -> dict:
        """A JSON-ready description (one element of ``check --json``'s ``files``)."""
        return {"file": str(self.file), "role": self.role, "verdict": self.verdict,
                "findings": list(self.ids)}


@dataclass(frozen=True)
class CheckReport:
    """Every finding of a check, the files checked (with their role) and the series factor."""

    findings: tuple[Finding, ...]
    files: tuple[tuple[Path, str], ...]
    factor: float | None = None

    @property
    def errors(self) -> list[Finding]:
        """The findings that are errors."""
        return [f for f in self.findings if f.severity is Severity.ERROR]

    @property
    def warnings(self) -> list[Finding]:
        """The findings that are warnings."""
        return [f for f in self.findings if f.severity is Severity.WARNING]

    @property
    def ok(self) -> bool:
        """True when nothing is an error (warnings alone pass)."""
        return not self.errors

    def verdicts(self) -> list[FileVerdict]:
        """One verdict per checked file, in the order the files were checked."""
        verdicts = []
        for path, role in self.files:
            mine = [f for f in self.findings if f.file == path]
            verdict = ("error" if any(f.severity is Severity.ERROR for f in mine)
                       else "warning" if mine else "ok")
            ids = tuple(dict.fromkeys(f.id for f in mine))
            verdicts.append(FileVerdict(path, role, verdict, ids))
        return verdicts

    def counts(self) -> dict[str, int]:
        """Files by verdict, and findings by severity."""
        verdicts = self.verdicts()
        return {"files": len(verdicts),
                "ok": sum(v.verdict == "ok" for v in verdicts),
                "warning": sum(v.verdict == "warning" for v in verdicts),
                "error": sum(v.verdict == "error" for v in verdicts),
                "errors": len(self.errors), "warnings": len(self.warnings)}

    def summary(self) -> str:
        """One line: verdict, files by verdict, findings by severity."""
        c = self.counts()
        head = "FAIL" if not self.ok else "PASS"
        return (f"{head}: {c['files']} files checked: {c['ok']} ok, {c['warning']} with warnings, "
                f"{c['error']} with errors ({c['errors']} errors, {c['warnings']} warnings)")

    def to_json(self) -> dict:
        """The JSON document of ``check --json``."""
        return {"ok": self.ok, "factor": self.factor, "counts": self.counts(),
                "files": [v.to_json() for v in self.verdicts()],
                "findings": [f.to_json() for f in self.findings]}
