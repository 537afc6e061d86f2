"""The Show-Attend-and-Tell experiment's pieces: caption ids, batches, BLEU against all references, attention
correctness on hand-made maps, coverage, upsampling, the run plan and cache key, and decoding whole test sets."""

import numpy as np
import pandas as pd
import pytest
import torch

from attnmem_core import intervals
from attnmem_core.data import fashion_mnist, scenes
from attnmem_core.data.scenes import Item
from attnmem_core.experiments import show_attend_tell as cx
from attnmem_core.runner import REPO

SMOKE = cx.PROFILES["smoke"]


@pytest.fixture(scope="module")
def data():
    return cx.prepare(REPO / "data" / "cache", SMOKE)


def test_the_word_list_has_the_markers_first_then_the_scene_vocabulary():
    assert cx.WORDS[:3] == ("<pad>", "<bos>", "<eos>") and (cx.PAD, cx.BOS, cx.EOS) == (0, 1, 2)
    assert set(cx.WORDS[3:]) == set(scenes.VOCABULARY) and len(set(cx.WORDS)) == len(cx.WORDS)


def test_prepare_turns_every_reference_into_marked_ids(data):
    assert len(data.captions) == sum(map(len, data.train.references)) == 5 * SMOKE.train_scenes
    for row, scene in zip(data.captions[::7], data.scene_of[::7]):
        ids = [i for i in row.tolist() if i != cx.PAD]
        assert ids[0] == cx.BOS and ids[-1] == cx.EOS
        assert cx.words_of(ids[1:-1]) in data.train.references[int(scene)]
    assert data.max_words == max(len(r) for s in (data.train, data.test) for refs in s.references for r in refs)


def test_caption_batches_shift_the_captions_and_pair_them_with_their_scenes_annotations(data):
    features = torch.arange(len(data.train), dtype=torch.float32).view(-1, 1, 1)
    (annotations, captions_in), captions_out = next(cx.caption_batches(features, data, 8, seed=0))
    assert annotations.shape == (8, 1, 1) and captions_in.shape == captions_out.shape
    assert (captions_in[:, 0] == cx.BOS).all() and (captions_out == cx.EOS).sum() == 8
    assert (captions_out != cx.PAD).sum(1).max() == captions_out.shape[1]  # cut to the longest caption
    for scene, row_in in zip(annotations.view(-1).long(), captions_in):
        words = cx.words_of([i for i in row_in.tolist()[1:] if i not in (cx.PAD, cx.EOS)])
        assert any(words == r[: len(words)] for r in data.train.references[int(scene)])


def test_bleu_against_several_references_on_a_hand_case():
    hypothesis = "the cat the cat".split()
    references = ["the cat sat".split(), "a cat".split()]
    # unigrams: "the" ×2 clipped to 1, "cat" ×2 clipped to 1 → 2/4; bigrams: "the cat" ×2 clipped to 1 of 3;
    # the closest reference length is 3 < 4, so no brevity penalty
    scores = cx.bleu([hypothesis], [references])
    assert scores["BLEU-1"] == pytest.approx(50.0)
    assert scores["BLEU-2"] == pytest.approx(100 * np.sqrt(0.5 * 1 / 3))
    perfect = cx.bleu([references[0]], [references])
    assert perfect["BLEU-1"] == pytest.approx(100.0) and perfect["BLEU-3"] == pytest.approx(100.0)
    short = cx.bleu(["the cat".split()], [["the cat sat on".split()]])["BLEU-1"]  # brevity penalty e^(1 − 4/2)
    assert short == pytest.approx(100 * np.exp(1 - 4 / 2))


def test_box_mass_on_hand_made_maps():
    canvas = 8  # a 2×2 grid of 4×4-pixel cells, row-major
    assert cx.cell_shares([(0, 0, 4, 4)], canvas, 2).tolist() == [1, 0, 0, 0]
    assert cx.cell_shares([(2, 0, 6, 4)], canvas, 2).tolist() == [0.5, 0.5, 0, 0]
    assert cx.cell_shares([(0, 4, 4, 8), (4, 4, 8, 8)], canvas, 2).tolist() == [0, 0, 1, 1]  # a union of two boxes
    on_item = np.array([1.0, 0, 0, 0])
    assert cx.box_mass(on_item, [(0, 0, 4, 4)], canvas) == 1.0
    assert cx.box_mass(on_item, [(2, 0, 6, 4)], canvas) == 0.5
    assert cx.uniform_share([(0, 0, 4, 4)], canvas) == 0.25
    assert cx.box_mass(np.array([0, 0, 0.5, 0.5]), [(0, 0, 4, 4)], canvas) == 0.0


def test_a_uniform_map_puts_exactly_the_uniform_share_inside_any_boxes():
    rng = np.random.default_rng(0)
    uniform = np.full(64, 1 / 64)
    for _ in range(20):
        x0, y0 = rng.integers(0, 50, 2)
        box = (int(x0), int(y0), int(x0 + rng.integers(1, 14)), int(y0 + rng.integers(1, 14)))
        assert cx.box_mass(uniform, [box], 64) == pytest.approx(cx.uniform_share([box], 64))


def test_item_words_find_the_named_items_and_flag_a_wrong_one():
    items = [Item(3, (0, 0, 32, 32), 0, 1), Item(4, (32, 32, 64, 64), 1, 1), Item(4, (32, 0, 64, 32), 2, 1)]
    words = ["a", "dress", "above", "a", "coat", "and", "a", "bag"]  # labels 3, 4 and 8
    maps = np.zeros((len(words), 4))
    maps[1, 0] = 1.0  # "dress" looks at the dress
    maps[4] = [0.0, 0.5, 0.25, 0.25]  # "coat": 0.75 on the two coats (cells 1 and 3)
    rows = cx.item_words(words, maps, items, 64)
    assert [(r["word"], r["position"], r["wrong item"]) for r in rows] == [
        ("dress", 1, False),
        ("coat", 4, False),
        ("bag", 7, True),
    ]
    assert rows[0]["mass"] == 1.0 and rows[0]["uniform"] == 0.25
    assert rows[1]["mass"] == 0.75 and rows[1]["uniform"] == 0.5
    assert np.isnan(rows[2]["mass"])


def test_coverage_sums_each_location_over_the_caption():
    maps = [np.array([[1.0, 0, 0], [0, 1.0, 0]]), np.array([[0.5, 0.5, 0]])]
    # caption 1: totals (1, 1, 0) → penalty 1, peak 1; caption 2: (0.5, 0.5, 0) → 0.25 + 0.25 + 1, peak 0.5
    assert cx.coverage(maps) == {"penalty": pytest.approx((1 + 1.5) / 2), "peak": pytest.approx(0.75)}


def test_upsampled_maps_keep_their_shape_and_peak():
    α = np.zeros(64)
    α[8 * 2 + 5] = 1.0  # row 2, column 5 of the 8×8 grid
    image = cx.upsample(α, 64)
    assert image.shape == (64, 64)
    row, col = np.unravel_index(image.argmax(), image.shape)
    assert 16 <= row < 24 and 40 <= col < 48
    assert cx.upsample(np.full(64, 1 / 64), 64) == pytest.approx(np.full((64, 64), 1 / 64))


def test_plan_runs_every_model_for_every_seed_and_the_cache_key_tells_them_apart(data):
    planned = cx.plan(SMOKE, [0, 1], steps=5)
    assert [(r.model, r.seed) for r in planned] == [(m, s) for s in (0, 1) for m in cx.MODELS]
    assert all(r.scale.steps == 5 for r in planned)
    keys = {str(r.cache_key(data, torch.device("cpu"))) for r in planned}
    assert len(keys) == len(planned) and len({r.label for r in planned}) == len(planned)


def test_a_bad_model_name_names_the_allowed_ones():
    with pytest.raises(ValueError, match="'soft', 'hard', 'none', 'soft, λ = 0'"):
        cx.build("soft attention", SMOKE)


def test_every_profile_turns_its_canvas_into_a_whole_grid_of_cells():
    for scale in cx.PROFILES.values():
        cell = 2 ** len(scale.widths)  # each convolution stage halves the side
        locations = cx.build("soft", scale).encoder(torch.zeros(1, 1, scale.canvas, scale.canvas)).shape[1]
        assert scale.canvas % cell == 0 and locations == (scale.canvas // cell) ** 2


def test_captions_and_their_word_maps_for_a_test_set(data):
    torch.manual_seed(0)
    model = cx.build("soft", SMOKE).eval()
    images = data.test.images[:6]
    captions = cx.caption(model, images, beam=2, max_words=5, device=torch.device("cpu"), batch_size=4)
    assert len(captions) == 6 and all(len(c) <= 5 and cx.EOS not in c for c in captions)
    features = model.encoder(images)
    maps = cx.attention_maps(model, features, captions, torch.device("cpu"), batch_size=4)
    assert [m.shape for m in maps] == [(len(c), 64) for c in captions]
    alone = cx.caption(model, images[3:4], beam=2, max_words=5, device=torch.device("cpu"))
    assert alone == captions[3:4]


def test_bleu_by_items_groups_the_test_scenes_by_their_item_count(data):
    captions = cx.Decoded("soft", 0, [cx.encode(refs[0]) for refs in data.test.references], [])
    frame = cx.bleu_by_items([captions], data)
    counts = [len(items) for items in data.test.items]
    assert frame.set_index("items")["scenes"].to_dict() == {n: counts.count(n) for n in sorted(set(counts))}
    bleu4 = frame.set_index("items")["BLEU-4"]
    assert bleu4.drop(1).tolist() == pytest.approx([100.0] * (len(bleu4) - 1))  # a reference among its own: 100


def test_the_coco_scorer_does_not_count_a_short_right_caption_as_a_miss():
    hypotheses = [["a", "coat"], ["a", "b", "c", "d"]]
    coco = cx.coco_bleu(hypotheses, [[h] for h in hypotheses])
    assert coco["BLEU-4"] == pytest.approx(100.0, abs=1e-4) and cx.bleu(hypotheses, [[h] for h in hypotheses])[
        "BLEU-4"
    ] == pytest.approx(100 * (2 / 3 * 1 / 2) ** 0.25)
    assert cx.coco_bleu([["the", "cat", "the", "cat"]], [[["the", "cat", "sat"], ["a", "cat"]]])[
        "BLEU-1"
    ] == pytest.approx(50.0)


def test_grounded_counts_check_items_regions_and_relations_against_the_scene():
    coat, bag = fashion_mnist.CLASSES.index("coat"), fashion_mnist.CLASSES.index("bag")
    items = [Item(coat, (0, 0, 20, 20), 0, 1), Item(bag, (40, 40, 60, 60), 1, 1)]
    right = cx.grounded_counts("a coat above a bag".split(), items, 64)
    assert right == {
        "named": 2,
        "present": 2,
        "right items": 2,
        "parsed": 1,
        "regions": 0,
        "right regions": 0,
        "relations": 1,
        "right relations": 1,
        "chance relations": 0.5,  # the coat is above and left of the bag: two of the four relations hold
    }
    wrong = cx.grounded_counts("a bag above a coat and a coat".split(), items, 64)
    assert (wrong["right items"], wrong["named"], wrong["relations"], wrong["right relations"]) == (2, 3, 2, 0)
    dress = cx.grounded_counts("a dress above a bag".split(), items, 64)  # no dress: a recognition error only
    assert (dress["right items"], dress["named"], dress["relations"]) == (1, 2, 0)
    alone = cx.grounded_counts("one coat at the bottom".split(), items[:1], 64)
    assert (alone["regions"], alone["right regions"]) == (1, 0)  # the coat's centre is in the top third
    assert cx.grounded_counts("coat a the".split(), items, 64)["parsed"] == 0


def test_nltk_counts_a_caption_shorter_than_n_as_one_missed_n_gram():
    """nltk divides by max(1, n-grams), so "a coat" adds a miss to the 3- and 4-gram counts: two-word captions
    cost BLEU-3/4 even when right (which is why BLEU-4 on one-item scenes sits below the others)."""
    hypotheses = [["a", "coat"], ["a", "b", "c", "d"]]
    # precisions 6/6, 4/4, 2/(1 + 2), 1/(1 + 1)
    assert cx.bleu(hypotheses, [[h] for h in hypotheses])["BLEU-4"] == pytest.approx(100 * (2 / 3 * 1 / 2) ** 0.25)


def test_validation_scenes_come_from_training_items_with_another_seed_and_carry_their_references(data):
    assert len(data.valid) == SMOKE.valid_scenes and data.valid.seed == data.train.seed + 1
    assert len(data.valid_captions) == sum(map(len, data.valid.references))
    for row, scene in zip(data.valid_captions[::5], data.valid_scene_of[::5]):
        ids = [i for i in row.tolist() if i != cx.PAD]
        assert cx.words_of(ids[1:-1]) in data.valid.references[int(scene)]


def test_quantities_compare_models_over_their_seeds_with_welch_intervals():
    seeds = (0, 1, 2)
    bleu = {
        "soft": (30.0, 32.0, 31.0),
        "hard": (25.0, 26.5, 26.0),
        "none": (20.0, 21.0, 22.0),
        "soft, λ = 0": (29.0, 30.0, 31.5),
        "soft, λ = 0.1": (30.0, 31.0, 31.5),
        "hard, caption credit": (20.0, 22.0, 21.5),
    }
    frame = pd.DataFrame(
        [
            {
                "model": m,
                "seed": s,
                "BLEU-4": b,
                "correctness ratio": 2.0 + s / 10,
                "coverage penalty": 10.0 - b / 10,
                **{metric: b / 100 for metric in ("relation accuracy", "position accuracy", "item recall")},
            }
            for m, bs in bleu.items()
            for s, b in zip(seeds, bs)
        ]
    )
    by_items = pd.DataFrame(
        [
            {"model": m, "seed": s, "items": n, "BLEU-4": b + (n - 1) * (3 if m != "none" else 1)}
            for m, bs in bleu.items()
            for s, b in zip(seeds, bs)
            for n in (1, 4)
        ]
    )
    measured = {q.name: q for q in cx.quantities(frame, by_items)}
    assert measured["hard − soft BLEU-4"].interval == intervals.difference(bleu["hard"], bleu["soft"])
    assert measured["hard − soft BLEU-4"].runs == {"hard": +1, "soft": -1}
    growth = measured["soft − none, 4 items against 1"]
    assert growth.interval.value == pytest.approx(9.0 - 3.0) and growth.unit == "BLEU"
    assert measured["soft − soft, λ = 0 coverage penalty"].runs == {"soft": -1, "soft, λ = 0": +1}
    assert measured["hard correctness"].interval == intervals.mean([2.0, 2.1, 2.2])
    relation = measured["hard − none relation accuracy"]
    expected = intervals.difference(bleu["hard"], bleu["none"])
    assert relation.unit == "pp" and relation.interval.value == pytest.approx(expected.value)
    assert (relation.interval.low, relation.interval.high) == pytest.approx((expected.low, expected.high))
    assert measured["hard − hard, caption credit BLEU-4"].runs == {"hard": +1, "hard, caption credit": -1}
