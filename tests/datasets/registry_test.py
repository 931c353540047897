"""The dataset registry: one descriptor per dataset, looked up by name or alias."""

import pytest

from siamjax import datasets
from siamjax.datasets import Protocol, ResultLayout, UnknownDataset, dataset_spec
from siamjax.eval import results


def test_names_and_aliases_are_unique_and_every_dataset_has_a_reader():
    names = [n for d in datasets.DATASETS for n in (d.name, *d.aliases)]
    assert len(names) == len(set(names))
    for spec in datasets.DATASETS:
        assert spec.read_raw is not None or spec.read_benchmark is not None, spec.name


def test_prep_and_eval_names_reach_the_same_descriptor():
    assert dataset_spec("got10k") is dataset_spec("GOT-10k")
    assert dataset_spec("OTB2015") is dataset_spec("OTB100")
    assert dataset_spec("VOT2018").protocol is Protocol.RESET
    assert dataset_spec("VOT2018-LT").protocol is Protocol.LONG_TERM
    assert dataset_spec("LaSOT").protocol is Protocol.ONE_PASS
    assert {d.name for d in datasets.DATASETS if d.submission} == {"GOT-10k", "TrackingNet"}


def test_purpose_requires_the_matching_reader():
    with pytest.raises(UnknownDataset, match="unknown dataset 'OTB100'; known: .*got10k"):
        dataset_spec("OTB100", "prep")  # a benchmark only: nothing to train on
    with pytest.raises(UnknownDataset, match="unknown dataset 'coco'; known: OTB100"):
        dataset_spec("coco", "eval")
    with pytest.raises(UnknownDataset, match="'nope'"):
        dataset_spec("nope")


@pytest.mark.parametrize(
    "dataset,layout,boxes",
    [
        ("OTB100", ResultLayout.FLAT, "R/bolt.txt"),
        ("GOT-10k", ResultLayout.PER_VIDEO_FOLDER, "R/bolt/bolt_001.txt"),
        ("VOT2019", ResultLayout.VOT_BASELINE, "R/baseline/bolt/bolt_001.txt"),
        ("VOT2018-LT", ResultLayout.VOT_LONG_TERM, "R/longterm/bolt/bolt_001.txt"),
    ],
)
def test_result_files_follow_the_descriptor_layout(dataset, layout, boxes):
    assert dataset_spec(dataset).result_layout is layout
    assert results.result_paths("R", dataset, "bolt")["boxes"] == boxes
