import os

import cv2
import numpy as np
import pytest

from siamjax.datasets import load_benchmark
from siamjax.datasets.benchmark_layout import (
    BenchmarkError,
    read_custom,
    read_got10k,
    read_lasot,
    read_numbers,
    read_otb,
    read_vot,
)
from siamjax.eval import results


def _frames(folder, count, first=1, digits=4, extension=".jpg"):
    os.makedirs(folder, exist_ok=True)
    image = np.zeros((8, 8, 3), np.uint8)
    for number in range(first, first + count):
        cv2.imwrite(os.path.join(folder, f"{number:0{digits}d}{extension}"), image)


def _lines(path, rows, separator=","):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as stream:
        for row in rows:
            stream.write(separator.join(str(v) for v in row) + "\n")


def test_read_numbers_accepts_mixed_separators_and_names_bad_lines(tmp_path):
    path = tmp_path / "gt.txt"
    path.write_text("1,2,3,4\n5\t6\t7\t8\n9 10  11 12\n")
    np.testing.assert_array_equal(read_numbers(str(path))[:, 0], [1, 5, 9])
    path.write_text("1,2,3,4\n1,2,x,4\n")
    with pytest.raises(BenchmarkError, match=r"gt.txt:2: not numbers"):
        read_numbers(str(path))
    path.write_text("1,2,3\n")
    with pytest.raises(BenchmarkError, match=r"gt.txt:1: expected 4 or 8 values, got 3"):
        read_numbers(str(path))


def test_otb_quirks(tmp_path):
    root = str(tmp_path)
    # Partial labels starting late (David starts at frame 300).
    _frames(os.path.join(root, "David", "img"), 310)
    _lines(os.path.join(root, "David", "groundtruth_rect.txt"), [(1, 2, 3, 4)] * 11, "\t")
    # Labels on a prefix only (Football1-like) and first frame numbered 247 (BlurCar1-like).
    _frames(os.path.join(root, "Football1", "img"), 6)
    _lines(os.path.join(root, "Football1", "groundtruth_rect.txt"), [(1, 2, 3, 4)] * 4)
    _frames(os.path.join(root, "BlurCar1", "img"), 3, first=247)
    _lines(os.path.join(root, "BlurCar1", "groundtruth_rect.txt"), [(1, 2, 3, 4)] * 3, " ")
    # Two targets.
    _frames(os.path.join(root, "Jogging", "img"), 3)
    for target in (1, 2):
        _lines(os.path.join(root, "Jogging", f"groundtruth_rect.{target}.txt"), [(target,) * 4] * 3)
    # One numbered annotation keeps the folder's name.
    _frames(os.path.join(root, "Human4", "img"), 2)
    _lines(os.path.join(root, "Human4", "groundtruth_rect.2.txt"), [(1, 1, 5, 5)] * 2)

    videos = {video.name: video for video in read_otb(root)}
    assert sorted(videos) == ["BlurCar1", "David", "Football1", "Human4", "Jogging-1", "Jogging-2"]
    assert os.path.basename(videos["David"].frame_paths[0]) == "0300.jpg"
    assert len(videos["David"]) == 11
    assert len(videos["Football1"]) == 4
    assert os.path.basename(videos["BlurCar1"].frame_paths[0]) == "0247.jpg"
    assert videos["Jogging-2"].gt[0, 0] == 2


def test_missing_frame_is_named(tmp_path):
    _frames(str(tmp_path / "Seq" / "img"), 5)
    os.remove(tmp_path / "Seq" / "img" / "0003.jpg")
    _lines(str(tmp_path / "Seq" / "groundtruth_rect.txt"), [(1, 2, 3, 4)] * 4)
    with pytest.raises(BenchmarkError, match=r"Seq/img/0003.jpg: frame missing"):
        read_otb(str(tmp_path))


def test_more_labels_than_frames_is_an_error(tmp_path):
    _frames(str(tmp_path / "Seq" / "img"), 2)
    _lines(str(tmp_path / "Seq" / "groundtruth_rect.txt"), [(1, 2, 3, 4)] * 3)
    with pytest.raises(BenchmarkError, match="3 boxes but 2 frames in video Seq"):
        read_otb(str(tmp_path))


def test_lasot_evaluates_visible_frames(tmp_path):
    root = tmp_path / "airplane" / "airplane-1"
    _frames(str(root / "img"), 4, digits=8)
    _lines(str(root / "groundtruth.txt"), [(1, 2, 3, 4)] * 4)
    (root / "full_occlusion.txt").write_text("0,1,0,0\n")
    (root / "out_of_view.txt").write_text("0,0,0,1\n")
    (video,) = read_lasot(str(tmp_path))
    assert video.evaluate.tolist() == [True, False, True, False]


def test_got10k_test_split_has_first_frame_only(tmp_path):
    _frames(str(tmp_path / "GOT-10k_Test_000001"), 5, digits=8)
    _lines(str(tmp_path / "GOT-10k_Test_000001" / "groundtruth.txt"), [(1, 2, 3, 4)])
    (video,) = read_got10k(str(tmp_path))
    assert not video.labelled and len(video) == 5
    assert np.isnan(video.gt[1:]).all() and video.gt[0].tolist() == [1, 2, 3, 4]


def test_vot_polygons_and_list(tmp_path):
    _frames(str(tmp_path / "ball" / "color"), 2, digits=8)
    _lines(str(tmp_path / "ball" / "groundtruth.txt"), [(0, 0, 10, 0, 10, 10, 0, 10)] * 2)
    (tmp_path / "list.txt").write_text("ball\n")
    (video,) = read_vot(str(tmp_path))
    assert video.gt.shape == (2, 8)


def test_custom_layout_and_unknown_dataset(tmp_path):
    _frames(str(tmp_path / "seq_a"), 3, digits=6)
    _lines(str(tmp_path / "seq_a" / "groundtruth.txt"), [(1, 2, 3, 4)] * 3)
    (video,) = read_custom(str(tmp_path))
    assert video.name == "seq_a" and len(video) == 3
    with pytest.raises(BenchmarkError, match="unknown dataset 'OTB9'"):
        load_benchmark("OTB9", str(tmp_path))


def test_result_files_round_trip_and_wrong_length_is_named(tmp_path):
    boxes = np.array([[1.5, 2.25, 3.0, 4.0], [5.0, 6.0, 7.0, 8.0]])
    results.write_results(str(tmp_path), "OTB100", "Seq", boxes)
    np.testing.assert_array_equal(results.read_boxes(str(tmp_path), "OTB100", "Seq", 2), boxes)
    with pytest.raises(BenchmarkError, match="video Seq has 3 frames but 2 result lines"):
        results.read_boxes(str(tmp_path), "OTB100", "Seq", 3)
    results.write_results(str(tmp_path), "VOT2018-LT", "car", boxes, [None, 0.75])
    folder = tmp_path / "longterm" / "car"
    assert (folder / "car_001.txt").read_text().splitlines()[0] == "1"
    assert (folder / "car_001_confidence.value").read_text() == "\n0.750000\n"


def test_uav123_sub_sequences_start_inside_the_shared_folder(tmp_path):
    _frames(str(tmp_path / "data_seq" / "UAV123" / "bird1"), 780, digits=6)
    _frames(str(tmp_path / "data_seq" / "UAV123" / "boat1"), 3, digits=6)
    _lines(str(tmp_path / "anno" / "UAV123" / "bird1_2.txt"), [(1, 2, 3, 4)] * 5)
    _lines(
        str(tmp_path / "anno" / "UAV123" / "boat1.txt"), [(1, 2, 3, 4), ("NaN",) * 4, (1, 2, 3, 4)]
    )
    videos = {v.name: v for v in load_benchmark("UAV123", str(tmp_path))}
    assert os.path.basename(videos["bird1_2"].frame_paths[0]) == "000775.jpg"
    assert len(videos["bird1_2"]) == 5
    assert np.isnan(videos["boat1"].gt[1]).all()


def test_nfs_takes_every_eighth_240fps_label(tmp_path):
    root = tmp_path / "ball" / "30"
    _frames(str(root / "ball"), 3, digits=5)
    lines = [f'1 {i} 10 {i + 20} 40 {i} 0 0 0 "ball"\n' for i in range(17)]
    (root / "ball.txt").write_text("".join(lines))
    (video,) = load_benchmark("NFS30", str(tmp_path))
    np.testing.assert_array_equal(video.gt[:, 0], [0, 8, 16])
    np.testing.assert_array_equal(video.gt[0], [0, 10, 20, 30])


def test_pysot_json_takes_precedence(tmp_path):
    import json

    _frames(str(tmp_path / "Seq" / "img"), 3)
    names = [f"Seq/img/{i:04d}.jpg" for i in (2, 3)]
    rects = [[1, 2, 3, 4], [5, 6, 7, 8]]
    meta = {
        "Seq": {"video_dir": "Seq", "img_names": names, "gt_rect": rects, "init_rect": rects[0]}
    }
    (tmp_path / "OTB100.json").write_text(json.dumps(meta))
    (video,) = load_benchmark("OTB100", str(tmp_path))
    assert [os.path.basename(p) for p in video.frame_paths] == ["0002.jpg", "0003.jpg"]
    assert video.gt[1].tolist() == [5, 6, 7, 8]
