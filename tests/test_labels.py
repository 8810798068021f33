"""Class labels read against the outputs (`tf_lrfinder.labels`): pure reading, no model needed."""

import numpy as np
import pytest

from tf_lrfinder.labels import label_fix, label_range, labels_outside, output_classes, rejected_labels, target_classes


@pytest.mark.parametrize("low, high, outside, fix", [
    (1, 3, [3], "subtract 1 from them (`y - 1`)."),  # labels 1 to K: counted from 1
    (0, 4, [3, 4], "give the model 5 outputs, or check the labels."),
    (-2, 1, [-2, -1], "map them to 0 to 2."),
    (0, 255, [255], "give the model 256 outputs, or check the labels; or, where 255 marks what to leave out "
                    "(padding, a void label), pass `ignore_class=255` to the sparse crossentropy."),
    (-1, 2, [-1], "map them to 0 to 2; or, where -1 marks what to leave out (padding, a void label), pass "
                  "`ignore_class=-1` to the sparse crossentropy."),
])
def test_label_fix_says_how_to_bring_the_labels_to_the_outputs(low, high, outside, fix):
    said = label_fix(low, high, 3, outside)
    assert said.startswith(f"run from {low} to {high}, but the model has 3 outputs: a sparse loss needs labels "
                           "from 0 to 2, one per output; ")
    assert said.endswith(fix)


def test_label_fix_names_the_output_of_a_model_of_several():
    said = label_fix(0, 4, 3, [3, 4], "output 'kind'")
    assert said.startswith("run from 0 to 4, but output 'kind' has 3 units: a sparse loss needs labels from 0 to 2, "
                           "one per unit; give it 5 units")


def test_label_range_reads_one_label_per_sample_or_per_step_and_never_a_one_unit_output():
    assert label_range(np.array([0, 1, 3]), np.zeros((3, 3))).startswith("The class labels on that batch run from 0 "
                                                                           "to 3, but the model has 3 outputs")
    assert label_range(np.array([[0, 5], [1, 2]]), np.zeros((2, 2, 3))) is not None  # per time step
    assert label_range(np.array([0, 1, 2]), np.zeros((3, 3))) is None  # all inside
    assert label_range(np.array([0, 4, 7]), np.zeros((3, 1))) is None  # a regression's whole-number targets
    assert label_range(np.eye(3), np.zeros((3, 3))) is None  # one-hot rows are not sparse labels
    assert label_range(np.array([0.5, 1.5, 4.0]), np.zeros((3, 3))) is None  # not whole numbers


def test_labels_outside_gives_each_label_outside_its_first_place_and_the_range():
    ys = [np.array([0, 1, 2]), np.array([3, 0, 3]), np.array([-1, 2, 0])]
    assert labels_outside(ys, 3) == ({3: (1, 0), -1: (2, 0)}, -1, 3)
    assert labels_outside(ys, 1) is None and labels_outside(ys, None) is None  # fewer than 2 outputs: no classes
    assert labels_outside([np.array([0.5, 1.0])], 3) is None


def test_rejected_labels_reads_tensorflows_error_and_nothing_else():
    message = ("Received a label value of 3 which is outside the valid range of [0, 3).  Label values: 0 3 1 -1\n"
               "\t [[{{node sparse_categorical_crossentropy}}]]")
    said = rejected_labels(message)
    assert said.startswith("run from -1 to 3, but the model has 3 outputs") and said.endswith("map them to 0 to 2.")
    # Several outputs: named by their units where TensorFlow's count of classes picks one out.
    assert "but output 'b' has 3 units" in rejected_labels(message, [("a", 5), ("b", 3)])
    assert "but output 'a' or 'b' (TensorFlow does not say which) has 3 units" in rejected_labels(
        message, [("a", 3), ("b", 3), ("c", 2)])
    assert "but the output whose loss rejected them has 3 units" in rejected_labels(message, [("a", 5), ("b", None)])
    assert said == rejected_labels(message, [("a", 3)])  # one output: the model's
    assert rejected_labels("Incompatible shapes: [32,3] vs. [32,1]") is None


def test_output_and_target_classes_match_targets_to_outputs_by_name_or_position():
    assert output_classes(np.zeros((4, 7))) == 7 and output_classes(np.zeros(4)) == 1
    assert output_classes(np.zeros(())) is None and output_classes((np.zeros((4, 2)), np.zeros((4, 2)))) is None
    outputs = [np.zeros((4, 5)), np.zeros((4, 1))]
    assert target_classes((np.zeros(4), np.zeros(4)), outputs, ["kind", "size"]) == [("kind", 5), ("size", 1)]
    assert target_classes({"size": np.zeros(4), "kind": np.zeros(4)}, dict(zip(["kind", "size"], outputs)),
                          ["kind", "size"]) == [("kind", 5), ("size", 1)]  # flattened in key order
    assert target_classes(np.zeros(4), outputs, ["kind", "size"]) == []  # one target for two outputs: no match
