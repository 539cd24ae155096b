"""Refusal context shared by the SUV computation modules (private)."""

from __future__ import annotations

from carpet.core.acquisition import PetAcquisition
from carpet.errors import SuvError

#: Attribute names with their tags, as written in messages.
TAG = {
    "Units": "Units (0054,1001)",
    "SUVType": "SUVType (0054,1006)",
    "DecayCorrection": "DecayCorrection (0054,1102)",
    "CorrectedImage": "CorrectedImage (0028,0051)",
    "PatientWeight": "PatientWeight (0010,1030)",
    "PatientSize": "PatientSize (0010,1020)",
    "PatientSex": "PatientSex (0010,0040)",
    "Dose": "RadionuclideTotalDose (0018,1074)",
    "HalfLife": "RadionuclideHalfLife (0018,1075)",
    "StartDateTime": "RadiopharmaceuticalStartDateTime (0018,1078)",
    "StartTime": "RadiopharmaceuticalStartTime (0018,1072)",
    "FrameDuration": "ActualFrameDuration (0018,1242)",
    "Intercept": "RescaleIntercept (0028,1052)",
}


class Ctx:
    """Message context of one computation."""

    def __init__(self, acq: PetAcquisition) -> None:
        self.acq = acq
        self.who = f"series {acq.series_instance_uid or '<no SeriesInstanceUID>'}"
        if acq.source:
            self.who += f" ({acq.source})"
        self.warnings: list[str] = []

    def refuse(self, code: str, what: str, remedy: str) -> SuvError:
        malformed = [p for p in self.acq.header_problems if p.split(" ")[0].rstrip(":") in what]
        if malformed:
            what += f" (malformed in the header: {'; '.join(malformed)})"
        return SuvError(
            f"SUV refused for {self.who}: {what}. {remedy}",
            code=code,
            series_uid=self.acq.series_instance_uid,
            source=self.acq.source,
        )
