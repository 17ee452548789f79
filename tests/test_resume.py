import pytest

from quint_prep.manifest import ImageRecord
from quint_prep.resume import Action, SourceStamp, decide

WRITE, SKIP, FAIL = Action.WRITE, Action.SKIP, Action.FAIL

SOURCE = SourceStamp("/scans/a_s001.tif", 1000, 5)
RECORD = ImageRecord(name="a_s001.png", stem="a_s001", section=1, source="/scans/a_s001.tif",
                     source_bytes=1000, source_mtime_ns=5, source_width=40, source_height=30,
                     width=10, height=8, load="full resolution")

CASES = {
    "up-to-date": (dict(), SKIP, "up to date", "same source"),
    "no-output": (dict(output_exists=False, record=None), WRITE, "new", "no output yet"),
    "output-deleted": (dict(output_exists=False), WRITE, "new", "output missing"),
    "touched": (dict(source=SourceStamp("/scans/a_s001.tif", 1000, 6)), WRITE, "changed",
                "source modified"),
    "resized": (dict(source=SourceStamp("/scans/a_s001.tif", 999, 5)), WRITE, "changed",
                "source modified"),
    "other-source": (dict(source=SourceStamp("/other/a_s001.tif", 1000, 5)), WRITE, "changed",
                     "another source"),
    "source-gone": (dict(source=None), WRITE, "changed", "another source"),
    "settings": (dict(same_settings=False), WRITE, "changed", "factor or settings differ"),
    "foreign": (dict(record=None), FAIL, "refused", "was not written by quint-prep"),
    "stale": (dict(record=None, stale=True), WRITE, "changed", "earlier series"),
    "foreign-overwrite": (dict(record=None, overwrite=True), WRITE, "changed", "--overwrite"),
    "overwrite": (dict(overwrite=True), WRITE, "changed", "--overwrite"),
    "clash": (dict(clashes=["a_s001.jpg"], overwrite=True), FAIL, "refused",
              "would also come from a_s001.jpg"),
}


@pytest.mark.parametrize("case", CASES, ids=list(CASES))
def test_decide(case):
    changes, action, status, reason = CASES[case]
    arguments = dict(output_name="a_s001.png", output_exists=True, record=RECORD, source=SOURCE,
                     same_settings=True, overwrite=False, clashes=())
    decision = decide(**{**arguments, **changes})
    assert (decision.action, decision.status) == (action, status)
    assert reason in decision.reason
