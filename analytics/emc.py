"""Settlement of energy performance contracts (合同能源管理, GB/T 24915-2020) from measured
savings (IPMVP Option C, :mod:`analytics.mv`).

Three contract types:

- **shared savings** (节能效益分享型): the value of the avoided energy at the contract's
  prices is shared between the ESCO and the agency (the energy user) at the agreed ratio.
- **guaranteed savings** (节能量保证型): the ESCO guarantees an amount of avoided energy per
  period; a shortfall is paid back by the ESCO at the contract price, and savings beyond the
  guarantee are shared at the agreed ratio (0 keeps them with the agency).
- **energy-cost trusteeship** (能源费用托管型): the agency pays the ESCO a fixed fee (the
  baseline cost, less an agreed discount), the ESCO pays the energy bills; the ESCO keeps the
  difference between the fee and the actual cost.

All amounts in CNY; energy in the meter's unit (kWh, m³ …).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

CONTRACT_TYPES = ("shared_savings", "guaranteed_savings", "cost_trusteeship")


@dataclass(frozen=True)
class Contract:
    """The terms a settlement needs.

    Attributes
    ----------
    kind : str
        One of :data:`CONTRACT_TYPES`.
    price : float
        CNY per unit of energy at which avoided energy is valued (the contract price).
    esco_share : float
        The ESCO's share of the value of savings (shared savings), or of the savings beyond the
        guarantee (guaranteed savings), 0–1.
    guaranteed : float
        Guaranteed avoided energy per settlement period (guaranteed savings).
    fee : float
        Trusteeship fee per period (cost trusteeship): what the agency pays the ESCO.
    """

    kind: str
    price: float
    esco_share: float = 0.0
    guaranteed: float = 0.0
    fee: float = 0.0

    def __post_init__(self) -> None:
        if self.kind not in CONTRACT_TYPES:
            raise ValueError(f"kind: {self.kind!r} is not one of {', '.join(CONTRACT_TYPES)}")
        if not self.price >= 0:
            raise ValueError(f"price: must be ≥ 0, got {self.price}")
        if not 0 <= self.esco_share <= 1:
            raise ValueError(f"esco_share: must be within 0–1, got {self.esco_share}")
        if not self.guaranteed >= 0:
            raise ValueError(f"guaranteed: must be ≥ 0, got {self.guaranteed}")


def settle(
    contract: Contract,
    *,
    avoided: float,
    uncertainty: float = 0.0,
    adjusted_baseline: float | None = None,
    actual: float | None = None,
) -> dict[str, Any]:
    """One settlement period.

    Parameters
    ----------
    contract : Contract
    avoided : float
        Avoided energy of the period (adjusted baseline − actual ± non-routine adjustments).
    uncertainty : float
        ± on the avoided energy (at the contract's confidence level), reported alongside.
    adjusted_baseline, actual : float, optional
        The period's adjusted baseline and metered use (energy), for the statement and for the
        trusteeship's cost.

    Returns
    -------
    dict
        ``value`` (avoided energy at the contract price), ``esco`` and ``agency`` (what each
        gains this period), ``shortfall`` (guaranteed savings: energy short of the guarantee)
        and ``compensation`` (CNY the ESCO pays for it), with the inputs.
    """
    value = avoided * contract.price
    out: dict[str, Any] = {
        "kind": contract.kind,
        "avoided": avoided,
        "uncertainty": uncertainty,
        "price": contract.price,
        "value": value,
        "shortfall": 0.0,
        "compensation": 0.0,
    }
    if adjusted_baseline is not None:
        out["adjusted_baseline"] = adjusted_baseline
    if actual is not None:
        out["actual"] = actual
    if contract.kind == "shared_savings":
        esco = max(value, 0.0) * contract.esco_share
        out.update(esco=esco, agency=value - esco)
    elif contract.kind == "guaranteed_savings":
        shortfall = max(contract.guaranteed - avoided, 0.0)
        surplus = max(avoided - contract.guaranteed, 0.0)
        compensation = shortfall * contract.price
        esco_surplus = surplus * contract.price * contract.esco_share
        out.update(
            guaranteed=contract.guaranteed,
            shortfall=shortfall,
            compensation=compensation,
            esco=esco_surplus - compensation,
            agency=value - esco_surplus + compensation,
        )
    else:  # cost trusteeship: the ESCO is paid the fee and pays the actual energy cost
        if actual is None:
            raise ValueError("actual: a trusteeship settlement needs the period's metered use")
        cost = actual * contract.price
        baseline_cost = None if adjusted_baseline is None else adjusted_baseline * contract.price
        out.update(
            fee=contract.fee,
            actual_cost=cost,
            esco=contract.fee - cost,
            agency=(baseline_cost - contract.fee) if baseline_cost is not None else None,
        )
    return out
