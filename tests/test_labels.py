"""Labels per source (issue 14): class labels, instance ids, labels tables, and the judgement
of masks that lose their instances or take the background as objects."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from conftest import from_array, read_array, save
from mixed_masks import CELLS, H, W, blobs, cells, mixed_folder, palette_png
from quint_prep.config import resolve
from quint_prep.errors import UsageError
from quint_prep.masks.judge import Concern, MaskFacts, judge_mask
from quint_prep.masks.labels import (LabelChoice, LabelRole, LabelSelection, choose_labels,
                                     read_labels_table)
from quint_prep.masks.sources import read_mask_file
from quint_prep.runner import masks_settings


def masks_json(cli, *args):
    result = cli("masks", *args, "--json", "-q")
    doc = json.loads(result.stdout) if result.stdout.strip() else None
    return result, doc


def objects_of(path: Path) -> np.ndarray:
    return np.all(read_array(path) == (255, 0, 0), axis=-1)


def warnings_of(result, name: str) -> list[str]:
    return [line for line in result.stderr.splitlines() if line.startswith(f"warning: {name}:")]


def test_labels_2_on_a_mixed_folder_keeps_every_cellpose_cell(cli, tmp_path):
    files = mixed_folder(tmp_path / "seg")
    result, doc = masks_json(cli, tmp_path / "seg", "-o", tmp_path / "out", "--labels", "2")
    assert result.exit_code == 0, result.stderr
    by_name = {Path(m["output"]).stem: m for m in doc["masks"]}
    cellpose = by_name["m_s003"]["counts"]
    assert cellpose["instances"] == cellpose["objects"] == CELLS
    for stem in ("m_s002", "m_s003", "m_s004", "m_s005", "m_s006"):
        assert np.array_equal(objects_of(tmp_path / "out" / f"{stem}.png"), files[stem][1]), stem
    assert ("warning: --labels 2 applies to class-label files (ilastik, QuPath classes); 1 "
            "instance-label file (m_s003_cp_masks.tif) keeps every instance") in result.stderr
    # The ilastik PNG's label 2 is its background: one line naming the file and the fix.
    (line,) = warnings_of(result, "m_s001_Simple Segmentation.png")
    assert "objects cover 96.0% of the section" in line
    assert "--labels 2 is probably this file's background" in line
    assert "labels in this file: 1 (4.0%), 2 (96.0%)" in line
    assert "a --labels-table row m_s001_Simple Segmentation.png,1" in line
    for stem in ("m_s002", "m_s003", "m_s004", "m_s005"):
        assert not [w for w in result.stderr.splitlines() if stem in w and "objects cover" in w]


def test_labels_table_picks_the_right_label_per_file(cli, tmp_path):
    files = mixed_folder(tmp_path / "seg")
    table = tmp_path / "labels.csv"
    table.write_text("name,labels\n# the PNG's objects are its first class\n"
                     "m_s001_Simple Segmentation.png,1\nilastik,2\nqupath,2\n")
    result, doc = masks_json(cli, tmp_path / "seg", "-o", tmp_path / "out", "--labels-table", table)
    assert result.exit_code == 0, result.stderr
    for stem, (_path, truth) in files.items():
        assert np.array_equal(objects_of(tmp_path / "out" / f"{stem}.png"), truth), stem
    assert "objects cover" not in result.stderr and "no objects" not in result.stderr
    labels = {Path(m["output"]).stem: m["labels"] for m in doc["masks"]}
    assert labels["m_s001"] == "labels 1" and labels["m_s002"] == "labels 2"


def test_a_table_row_wins_over_labels_and_a_name_over_a_kind(tmp_path):
    folder = tmp_path / "seg"
    mixed_folder(folder)
    table = tmp_path / "t.csv"
    table.write_text('name,labels\nilastik,2\n*_Simple Segmentation.png,"1,2"\n'
                     "m_s001,1\ncellpose,3-5\n")
    selection = LabelSelection(labels=(7,), table=read_labels_table(table))
    png = read_mask_file(folder / "m_s001_Simple Segmentation.png")
    tif = read_mask_file(folder / "m_s002_Simple Segmentation.tif")
    cellpose = read_mask_file(folder / "m_s003_cp_masks.tif")
    binary = read_mask_file(folder / "m_s004_mask.png")
    assert choose_labels(png, selection) == LabelChoice((1,), LabelRole.CLASS, f"{table} line 4")
    assert choose_labels(tif, selection).labels == (2,)
    assert choose_labels(cellpose, selection) == LabelChoice((3, 4, 5), LabelRole.INSTANCE,
                                                             f"{table} line 5")
    assert choose_labels(binary, selection) == LabelChoice(None, LabelRole.BINARY, "")
    no_table = LabelSelection(labels=(7,), instance_ids=(2,))
    assert choose_labels(png, no_table).origin == "--labels"
    assert choose_labels(cellpose, no_table) == LabelChoice((2,), LabelRole.INSTANCE, "--instance-ids")


def test_glob_rows_match_the_file_name(tmp_path):
    mixed_folder(tmp_path / "seg")
    table = tmp_path / "t.csv"
    table.write_text("name,labels\n*_CP_MASKS*,1-3\n")
    cellpose = read_mask_file(tmp_path / "seg" / "m_s003_cp_masks.tif")
    assert choose_labels(cellpose, LabelSelection(table=read_labels_table(table))).labels == (1, 2, 3)


@pytest.mark.parametrize("text, message", [
    ("file,labels\nx,2\n", "t.csv line 1: the first row must be the header name,labels"),
    ("name,labels\nm_s001,2\nm_s002,two\n", "t.csv line 3: m_s002: 'two' is not a list of label values"),
    ("name,labels\n\nm_s001\n", "t.csv line 3: m_s001: give a name and its labels"),
    ("name,labels\nm_s001,2\nM_S001,3\n", "t.csv line 3: M_S001 is also given in"),
    ("name,labels\n,2\n", "t.csv line 2: the name is empty"),
    ("name,labels\nm_s001,5-2\n", "t.csv line 2: m_s001: range 5-2 runs backwards"),
], ids=["header", "labels", "no-labels", "duplicate", "no-name", "backwards"])
def test_bad_table_rows_are_refused_with_their_line(cli, tmp_path, text, message):
    mixed_folder(tmp_path / "seg")
    table = tmp_path / "t.csv"
    table.write_text(text)
    with pytest.raises(UsageError, match="line"):
        read_labels_table(table)
    result = cli("masks", tmp_path / "seg", "-o", tmp_path / "out", "--labels-table", table)
    assert result.exit_code == 2 and message in result.stderr, result.stderr
    assert not (tmp_path / "out").exists()


def test_missing_table_and_unused_rows(cli, tmp_path):
    mixed_folder(tmp_path / "seg")
    result = cli("masks", tmp_path / "seg", "-o", tmp_path / "out", "--labels-table",
                 tmp_path / "nope.csv")
    assert result.exit_code == 2 and "no such labels table" in result.stderr
    table = tmp_path / "t.csv"
    table.write_text("name,labels\nilastik,2\nm_s099_mask,255\n")
    result = cli("masks", tmp_path / "seg", "-o", tmp_path / "out", "--labels-table", table)
    assert f"warning: {table} line 3: m_s099_mask matches no segmentation file" in result.stderr


def test_instance_ids_narrow_and_warn_when_most_are_lost(cli, tmp_path):
    save(from_array(cells()), tmp_path / "seg" / "m_s003_cp_masks.tif")
    result, doc = masks_json(cli, tmp_path / "seg", "-o", tmp_path / "out", "--instance-ids", "2-5")
    assert result.exit_code == 0, result.stderr
    assert doc["masks"][0]["counts"]["objects"] == 4
    assert np.array_equal(objects_of(tmp_path / "out" / "m_s003.png"), np.isin(cells(), [2, 3, 4, 5]))
    (line,) = warnings_of(result, "m_s003_cp_masks.tif")
    assert "kept 4 of the 20 instances in the file (--instance-ids 2,3,4,5)" in line
    assert "drop --instance-ids" in line
    # The rerun finds the mask up to date and still says so.
    again = cli("masks", tmp_path / "seg", "-o", tmp_path / "out", "--instance-ids", "2-5", "-q")
    assert "1 up to date" in again.stdout and "kept 4 of the 20 instances" in again.stderr
    result = cli("masks", tmp_path / "seg", "-o", tmp_path / "out2", "--instance-ids", "2-15")
    assert "kept 14 of the 20" not in result.stderr  # most kept: no warning


def test_check_repeats_the_judgement_of_masks(cli, tmp_path, make_image):
    mixed_folder(tmp_path / "seg")
    for number in range(1, 7):
        make_image(f"images/m_s{number:03d}.png", W, H)
    assert cli("masks", tmp_path / "seg", "-o", tmp_path / "out", "--labels", "2",
               "--instance-ids", "1-3", "-q").exit_code == 0
    result = cli("check", tmp_path / "images", "-s", tmp_path / "out", "--json")
    findings = {(Path(f["file"]).name, f["id"]): f["message"] for f in json.loads(result.stdout)["findings"]}
    assert "kept 3 of the 20 instances" in findings[("m_s003.png", "seg.instances-lost")]
    assert "--labels 2 is probably this file's background" in findings[("m_s001.png", "seg.objects-dominant")]
    # With the object colour, the share is measured on the pixels, by the same judgement.
    result = cli("check", tmp_path / "images", "-s", tmp_path / "out", "--colour", "255,0,0", "--json")
    found = [(Path(f["file"]).name, f["id"], f["message"]) for f in json.loads(result.stdout)["findings"]]
    dominant = [f for f in found if f[1] == "seg.objects-dominant"]
    assert [f[0] for f in dominant] == ["m_s001.png"]
    assert "objects cover 96.0% of the section" in dominant[0][2]
    assert ("m_s003.png", "seg.instances-lost") in [(f[0], f[1]) for f in found]


def test_qupath_class_labels_are_told_to_use_labels_not_invert(cli, tmp_path):
    indices = np.ones((H, W), np.uint8)  # class 1 (e.g. tissue) everywhere
    indices[:6, :6] = 0
    indices[blobs(1, 0) == 1] = 2  # class 2: the cells
    src = palette_png(tmp_path / "seg" / "m_s005-labels.png", indices,
                      [(255, 255, 255), (0, 0, 200), (200, 0, 0)])
    result = cli("masks", src, "-o", tmp_path / "out")
    assert result.exit_code == 0, result.stderr
    (line,) = warnings_of(result, "m_s005-labels.png")
    assert "this is a class-label image; labels in this file: 0 (1.1%), 1 (94.9%), 2 (4.0%)" in line
    assert "choose the object classes with --labels (e.g. --labels 2), not --invert" in line
    assert "rerun with --invert" not in result.stderr


def test_manifest_that_does_not_exist_is_no_such_folder(cli, tmp_path):
    mixed_folder(tmp_path / "seg")
    result = cli("masks", tmp_path / "seg", "-o", tmp_path / "out", "--manifest", tmp_path / "nope")
    assert result.exit_code == 2
    assert f"--manifest {tmp_path / 'nope'}: no such folder" in result.stderr


@pytest.mark.parametrize("facts, concern, words", [
    (MaskFacts("a.png", LabelChoice(None, LabelRole.BINARY, ""), 0.9), Concern.MOSTLY_OBJECTS,
     "rerun with --invert"),
    (MaskFacts("a.png", LabelChoice((2,), LabelRole.CLASS, "--labels"), 0.0, 0), Concern.EMPTY,
     "--labels 2 do not occur here"),
    (MaskFacts("a.png", LabelChoice((2,), LabelRole.INSTANCE, "--instance-ids"), 0.01, 1, 1, 20),
     Concern.LOST, "kept 1 of the 20 instances"),
    (MaskFacts("a.png", None, 0.7), Concern.MOSTLY_OBJECTS, "redo the mask"),
], ids=["binary", "empty", "lost", "unknown"])
def test_judgement_wording(facts, concern, words):
    (judged,) = judge_mask(facts)
    assert judged.concern is concern and words in judged.message


def test_judgement_thresholds():
    choice = LabelChoice(None, LabelRole.INSTANCE, "")
    assert judge_mask(MaskFacts("a", choice, 0.5, 10, 10, 20)) == ()  # half kept, half covered
    assert [j.concern for j in judge_mask(MaskFacts("a", choice, 0.51, 9, 9, 20))] == [
        Concern.LOST, Concern.MOSTLY_OBJECTS]
    assert all(j.excludes for j in judge_mask(MaskFacts("a", choice, 0.0, 0)))


def test_config_labels_table_and_instance_ids(tmp_path):
    base = 'name = "x"\nimages = "img"\noutput = "out"\nfactor = 0.5\n'
    path = tmp_path / "series.toml"
    path.write_text(base + 'instance_ids = "2-4"\n[labels]\n"m_s001" = "1"\nilastik = [2, 3]\n')
    config = resolve(path)
    assert config.instance_ids == (2, 3, 4)
    assert [(r.name, r.labels) for r in config.labels_table.rules] == [("m_s001", (1,)),
                                                                        ("ilastik", (2, 3))]
    (tmp_path / "labels.csv").write_text("name,labels\ncellpose,1-9\n")
    path.write_text(base + 'labels_table = "labels.csv"\n')
    config = resolve(path)
    assert config.labels_table.rules[0].labels == tuple(range(1, 10))
    assert masks_settings(config).labels_table == config.labels_table  # the masks stage gets it
    path.write_text(base + 'labels_table = "labels.csv"\n[labels]\nx = "1"\n')
    with pytest.raises(UsageError, match="not both"):
        resolve(path)
    path.write_text(base + '[labels]\nx = "one"\n')
    with pytest.raises(UsageError, match="labels.x: x: 'one' is not a list of label values"):
        resolve(path)
