"""All-pairs covering of test factors: every pair of values of any two factors appears."""

import itertools


def all_pairs(**factors: list) -> list[dict]:
    """A short list of cases (dicts) in which every pair of factor values occurs at least once."""
    names = list(factors)
    uncovered = {
        ((i, u), (j, v))
        for i, j in itertools.combinations(range(len(names)), 2)
        for u in range(len(factors[names[i]]))
        for v in range(len(factors[names[j]]))
    }
    cases = []
    while uncovered:
        (i, u), (j, v) = min(uncovered)
        case = {i: u, j: v}
        for k in range(len(names)):
            if k in case:
                continue
            case[k] = max(
                range(len(factors[names[k]])),
                key=lambda w: sum(
                    ((min(k, m), w if k < m else case[m]), (max(k, m), case[m] if k < m else w))
                    in uncovered
                    for m in case
                ),
            )
        uncovered -= {
            ((i, case[i]), (j, case[j])) for i, j in itertools.combinations(range(len(names)), 2)
        }
        cases.append({names[k]: factors[names[k]][case[k]] for k in range(len(names))})
    return cases
