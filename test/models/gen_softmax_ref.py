#!/usr/bin/python3
"""Reference for test/unit/test_softmax_head.c: seeded data sets and the class
probabilities scikit-learn's LogisticRegression gives them.

    /usr/bin/python3 test/models/gen_softmax_ref.py OUT.json

head_fit minimises  sum_i cw[y_i] CE_i + |W|^2 / (2 C)  on features
standardised with the population standard deviation, bias not regularised:
that is LogisticRegression(C=C, multinomial, lbfgs) on StandardScaler()'s
output, so the reference fits that and reports probabilities of the training
rows (which head_probs computes from the raw features).  Without scikit-learn
nothing is written and the unit test reports the reference as skipped.
"""
import json
import sys

import numpy as np

try:
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler
except ImportError:
    print("gen_softmax_ref: scikit-learn not installed, no reference written", file=sys.stderr)
    sys.exit(0)


def one(rng, n, d, k, C, spread, weighted):
    centres = rng.normal(0, spread, (k, d))
    y = np.arange(n) % k
    rng.shuffle(y)
    x = (centres[y] + rng.normal(0, 1, (n, d)) * rng.uniform(0.5, 2, d) + rng.normal(0, 3, d)).astype(np.float32)
    cw = None
    if weighted:
        cw = [float(v) for v in rng.uniform(0.5, 2.0, k)]
    z = StandardScaler().fit_transform(x.astype(np.float64))
    kw = {"C": C, "solver": "lbfgs", "tol": 1e-10, "max_iter": 100000}
    if cw is not None:
        kw["class_weight"] = {c: cw[c] for c in range(k)}
    m = LogisticRegression(**kw)
    try:
        m.set_params(multi_class="multinomial")
    except ValueError:
        pass
    m.fit(z, y)
    p = m.predict_proba(z)
    return {"n": n, "d": d, "k": k, "C": C, "x": [float(v) for v in x.ravel()],
            "y": [int(v) for v in y], "class_weight": cw or [],
            "probs": [round(float(v), 9) for v in p.ravel()]}


def main():
    rng = np.random.default_rng(20261204)
    sets = [one(rng, 200, 8, 3, 1.0, 1.0, False),
            one(rng, 300, 32, 5, 0.1, 0.7, False),
            one(rng, 150, 16, 2, 10.0, 0.5, True),
            one(rng, 400, 64, 10, 0.5, 0.6, True)]
    with open(sys.argv[1], "w") as f:
        json.dump({"generator": "test/models/gen_softmax_ref.py (scikit-learn)", "sets": sets}, f)


if __name__ == "__main__":
    main()
