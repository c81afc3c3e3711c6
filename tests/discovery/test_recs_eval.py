"""The offline evaluation on a small generated set: the recommender (the agents' own code path)
beats the popularity and the random baselines on recall@20 and nDCG@20."""

from __future__ import annotations

from jobs import eval_recommender


def test_the_recommender_beats_both_baselines(capsys):
    assert eval_recommender.main(["--users", "150", "--items", "400", "--seed", "3"]) == 0
    out = capsys.readouterr().out
    rows = {
        line.split()[0]: tuple(map(float, line.split()[1:3]))
        for line in out.splitlines()
        if line.split() and line.split()[0] in ("recommender", "popularity", "random")
    }
    assert set(rows) == {"recommender", "popularity", "random"}
    rec, pop, rnd = rows["recommender"], rows["popularity"], rows["random"]
    assert rec[0] > pop[0] > rnd[0] and rec[1] > pop[1] > rnd[1]
    assert "held out (each user's latest 20%)" in out


def test_the_dataset_is_fixed_by_its_seed_and_holds_out_the_latest_fifth():
    a, b = eval_recommender.generate(40, 120, 5), eval_recommender.generate(40, 120, 5)
    assert a.captions == b.captions and a.train == b.train and a.test == b.test
    for u, train in a.train.items():
        total = len(train) + len(a.test[u])
        assert len(a.test[u]) == total - -(-total * 4 // 5) and not set(train) & a.test[u]
