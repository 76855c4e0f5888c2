"""EMC settlements, computed by hand.

A period with an adjusted baseline of 100,000 kWh and 88,000 kWh metered: 12,000 kWh avoided,
at a contract price of 0.80 ¥/kWh worth 9,600.00 ¥.
- shared savings, ESCO 70 %: ESCO 6,720.00 ¥, agency 2,880.00 ¥.
- guaranteed savings of 15,000 kWh, surplus shared 50 %: 3,000 kWh short, the ESCO pays
  2,400.00 ¥; the agency gains 9,600 + 2,400 = 12,000.00 ¥ (the guarantee's worth).
  With 20,000 kWh avoided instead: 5,000 kWh over, ESCO 2,000.00 ¥, agency 14,000.00 ¥.
- trusteeship with a fee of 76,000.00 ¥ (5 % below the baseline cost of 80,000.00 ¥): the ESCO
  pays 70,400.00 ¥ of energy and keeps 5,600.00 ¥; the agency saves 4,000.00 ¥.
"""

from __future__ import annotations

import pytest

from analytics.emc import Contract, settle


def test_shared_savings() -> None:
    got = settle(Contract("shared_savings", price=0.80, esco_share=0.7), avoided=12_000)
    assert got["value"] == pytest.approx(9_600.00, abs=0.005)
    assert got["esco"] == pytest.approx(6_720.00, abs=0.005)
    assert got["agency"] == pytest.approx(2_880.00, abs=0.005)


def test_guaranteed_savings_short_and_over() -> None:
    terms = Contract("guaranteed_savings", price=0.80, esco_share=0.5, guaranteed=15_000)
    short = settle(terms, avoided=12_000, uncertainty=1_500)
    assert short["shortfall"] == 3_000 and short["compensation"] == pytest.approx(2_400.00)
    assert short["esco"] == pytest.approx(-2_400.00) and short["agency"] == pytest.approx(12_000.00)
    over = settle(terms, avoided=20_000)
    assert over["shortfall"] == 0 and over["esco"] == pytest.approx(2_000.00)
    assert over["agency"] == pytest.approx(14_000.00)


def test_cost_trusteeship() -> None:
    terms = Contract("cost_trusteeship", price=0.80, fee=76_000.00)
    got = settle(terms, avoided=12_000, adjusted_baseline=100_000, actual=88_000)
    assert got["actual_cost"] == pytest.approx(70_400.00)
    assert got["esco"] == pytest.approx(5_600.00) and got["agency"] == pytest.approx(4_000.00)
    with pytest.raises(ValueError, match="actual"):
        settle(terms, avoided=1.0)


@pytest.mark.parametrize(
    ("terms", "field"),
    [
        ({"kind": "lease", "price": 1.0}, "kind"),
        ({"kind": "shared_savings", "price": 1.0, "esco_share": 1.2}, "esco_share"),
        ({"kind": "shared_savings", "price": -1.0}, "price"),
    ],
)
def test_bad_terms_name_the_field(terms: dict, field: str) -> None:
    with pytest.raises(ValueError, match=f"{field}:"):
        Contract(**terms)
